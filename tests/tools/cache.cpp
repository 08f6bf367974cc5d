#include "tools/cache.hpp"

#include <catch2/catch.hpp>

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE("cached results expire after their TTL", "[tools][cache]") {
  tools::result_cache cache{10};
  auto t0 = tools::result_cache::clock::now();
  auto key = tools::result_cache::key("t", json{{"b", 1}, {"a", 2}});
  CHECK_FALSE(cache.get(key, t0));
  cache.put(key, "out", 100ms, t0);
  CHECK(cache.get(key, t0 + 99ms) == std::optional<std::string>{"out"});
  CHECK_FALSE(cache.get(key, t0 + 100ms));
  auto st = cache.stats();
  CHECK(st.hits == 1);
  CHECK(st.misses == 2);
  CHECK(st.expired == 1);
  CHECK(st.size == 0);
}

TEST_CASE("the cache key is canonical and per tool", "[tools][cache]") {
  auto a = tools::result_cache::key("t", json::parse(R"({"x":1,"y":[1,2]})"));
  auto b = tools::result_cache::key("t", json::parse(R"({ "y":[1,2], "x":1 })"));
  CHECK(a == b);
  CHECK(a != tools::result_cache::key("u", json::parse(R"({"x":1,"y":[1,2]})")));
  CHECK(a != tools::result_cache::key("t", json::parse(R"({"x":2,"y":[1,2]})")));
}

TEST_CASE("the cache drops the least recently used beyond its bound",
          "[tools][cache]") {
  tools::result_cache cache{2};
  auto now = tools::result_cache::clock::now();
  cache.put("a", "1", 1h, now);
  cache.put("b", "2", 1h, now);
  REQUIRE(cache.get("a", now)); // a is now the most recently used
  cache.put("c", "3", 1h, now);
  CHECK(cache.get("a", now));
  CHECK_FALSE(cache.get("b", now));
  CHECK(cache.get("c", now));
  CHECK(cache.stats().evictions == 1);
  CHECK(cache.stats().size == 2);
  // Zero capacity or TTL: nothing is kept.
  tools::result_cache none{0};
  none.put("a", "1", 1h, now);
  CHECK_FALSE(none.get("a", now));
  cache.put("d", "4", 0ms, now);
  CHECK_FALSE(cache.get("d", now));
}
