#include "memory/short_term.hpp"

#include <catch2/catch.hpp>

using troupe::memory::keywords;
using troupe::memory::short_term_store;

TEST_CASE("keywords drop stopwords and punctuation", "[memory]") {
  auto ks = keywords("What is the Launch, on FRIDAY?");
  REQUIRE(ks == std::vector<std::string>{"friday", "launch"});
}

TEST_CASE("recall ranks by keyword overlap, then newest", "[memory]") {
  short_term_store m;
  auto a = m.store("s", "the launch is on Friday");
  auto b = m.store("s", "lunch with Bob on Friday");
  auto c = m.store("s", "the launch moved to Friday at noon");
  m.store("s", "unrelated note");
  CHECK(a < b);
  CHECK(b < c);
  auto hits = m.recall("s", "launch Friday", 10);
  REQUIRE(hits.size() == 3);
  CHECK(hits[0].id == c); // score 1, newer than a
  CHECK(hits[1].id == a);
  CHECK(hits[2].id == b); // score 0.5
  CHECK(hits[0].score == Approx(1.0));
  CHECK(hits[2].score == Approx(0.5));
  CHECK(m.recall("s", "launch Friday", 1).size() == 1);
  CHECK(m.recall("other", "launch", 5).empty());
  // A query of stopwords only returns the newest entries.
  auto recent = m.recall("s", "what is the", 2);
  REQUIRE(recent.size() == 2);
  CHECK(recent[0].text == "unrelated note");
  CHECK(recent[0].score == 0);
}

TEST_CASE("storing the same text again refreshes it", "[memory]") {
  short_term_store m;
  auto a = m.store("s", "buy milk");
  m.store("s", "buy bread");
  CHECK(m.store("s", "buy milk") == a);
  CHECK(m.size("s") == 2);
  auto hits = m.recall("s", "buy", 5);
  REQUIRE(hits.size() == 2);
  CHECK(hits[0].text == "buy milk"); // refreshed, so newest
}

TEST_CASE("a full session evicts its least recently used entry", "[memory]") {
  short_term_store m{2};
  auto a = m.store("s", "alpha one");
  m.store("s", "beta two");
  // Recalling alpha makes beta the least recently used.
  REQUIRE(m.recall("s", "alpha", 1).front().id == a);
  m.store("s", "gamma three");
  CHECK(m.size("s") == 2);
  CHECK(m.recall("s", "beta", 5).empty());
  CHECK(m.recall("s", "alpha", 5).size() == 1);
  CHECK(m.recall("s", "gamma", 5).size() == 1);
}

TEST_CASE("the least recently used session is dropped", "[memory]") {
  short_term_store m{10, 2};
  auto a = m.store("a", "x1");
  auto b = m.store("b", "x2");
  CHECK(b > a);
  m.recall("a", "x1", 1); // a is now more recent than b
  auto c = m.store("c", "x3");
  CHECK(c > b);
  CHECK(m.sessions() == 2);
  CHECK(m.size("a") == 1);
  CHECK(m.size("b") == 0);
  CHECK(m.size("c") == 1);
}
