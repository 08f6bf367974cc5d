// A thread's history within a token budget: whole turns, newest kept, a
// tool call never without its result; and messages through their JSON.

#include "daemon/history.hpp"

#include <catch2/catch.hpp>

using namespace troupe;
using namespace troupe::daemon;

namespace {

/// A turn: the question, a call, its result, the answer.
std::vector<chat_message> a_turn(const std::string& q) {
  return {{chat_role::user, q, {}, {}},
          {chat_role::assistant, {}, {{"c-" + q, "calculator", R"({"expression":"1"})"}}, {}},
          {chat_role::tool, R"({"text":"1"})", {}, "c-" + q},
          {chat_role::assistant, "The answer is 1.", {}, {}}};
}

uint64_t cost(const std::vector<chat_message>& xs) {
  uint64_t n = 0;
  for (auto& m : xs)
    n += estimated_tokens(m);
  return n;
}

} // namespace

TEST_CASE("history keeps the newest whole turns within its budget",
          "[daemon][history]") {
  std::vector<chat_message> all;
  for (auto q : {"one", "two", "three"}) {
    auto t = a_turn(q);
    all.insert(all.end(), t.begin(), t.end());
  }
  auto per_turn = cost(a_turn("three")); // the newest
  size_t dropped = 0;
  auto everything = within_budget(all, cost(all), &dropped);
  CHECK(everything.size() == 12);
  CHECK(dropped == 0);
  // One token short of all three: the oldest goes, whole.
  auto two = within_budget(all, cost(all) - 1, &dropped);
  REQUIRE(two.size() == 8);
  CHECK(dropped == 4);
  CHECK(two[0].role == chat_role::user);
  CHECK(two[0].content == "two");
  auto one = within_budget(all, per_turn + 1, &dropped);
  REQUIRE(one.size() == 4);
  CHECK(one[0].content == "three");
  // Less than a turn: nothing, rather than half a turn.
  CHECK(within_budget(all, per_turn - 1, &dropped).empty());
  CHECK(dropped == 12);
  CHECK(within_budget({}, 100, nullptr).empty());
}

TEST_CASE("thread messages go through their JSON", "[daemon][history]") {
  for (auto& m : a_turn("q")) {
    auto j = message_json(m, 7);
    CHECK(j["run"] == 7);
    auto back = message_from_json(j);
    REQUIRE(back);
    CHECK(back->role == m.role);
    CHECK(back->content == m.content);
    CHECK(back->tool_call_id == m.tool_call_id);
    REQUIRE(back->tool_calls.size() == m.tool_calls.size());
    for (size_t i = 0; i < m.tool_calls.size(); ++i) {
      CHECK(back->tool_calls[i].id == m.tool_calls[i].id);
      CHECK(back->tool_calls[i].arguments == m.tool_calls[i].arguments);
    }
  }
  CHECK(!message_from_json(json{{"role", "wizard"}}));
  CHECK(!message_from_json(json::array()));
  CHECK(!message_from_json(json{{"role", "assistant"}, {"tool_calls", {{{"id", 1}}}}}));
}

TEST_CASE("a completed run's turn is its input, steps and answer",
          "[daemon][history]") {
  task_result r;
  r.answer = "done";
  r.steps.push_back({{{"c1", "calculator", "{}"}}, {{"c1", "calculator", true, "{}"}}});
  auto t = turn_of("do it", r);
  REQUIRE(t.size() == 4);
  CHECK(t[0].role == chat_role::user);
  CHECK(t[0].content == "do it");
  CHECK(t[1].tool_calls.size() == 1);
  CHECK(t[2].role == chat_role::tool);
  CHECK(t[2].tool_call_id == "c1");
  CHECK(t[3].content == "done");
}
