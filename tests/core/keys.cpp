#include "core/keys.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

struct inner {
  uint32_t size = 4;
};

struct sample {
  uint32_t count = 3;
  std::chrono::milliseconds wait{100};
  bool on = true;
  std::string name = "x";
  std::vector<std::string> items;
  inner nested;
};

const keys<inner>& inner_keys() {
  static const auto table =
    keys<inner>{}.integer("size", &inner::size, 1, 8, "a size");
  return table;
}

const keys<sample>& sample_keys() {
  static const auto table =
    keys<sample>{}
      .integer("count", &sample::count, 1, 10, "how many")
      .millis("wait_ms", &sample::wait, 1, 1000, "how long")
      .flag("on", &sample::on, "whether")
      .text("name", &sample::name, "its name")
      .list("items", &sample::items, "some items", true)
      .section("nested", &sample::nested, inner_keys(), "inside")
      .retired("old", "old was replaced by count");
  return table;
}

std::string error_of(const char* text) {
  sample s;
  auto f = sample_keys().read(json::parse(text), s, "");
  REQUIRE(f);
  return f->message;
}

} // namespace

TEST_CASE("one declaration per key reads a JSON object into a struct",
          "[core][keys]") {
  sample s;
  auto f = sample_keys().read(
    json::parse(R"({"count": 7, "wait_ms": 20, "on": false, "name": "y",
                    "items": "a,b", "nested": {"size": 2}})"),
    s, "");
  REQUIRE_FALSE(f);
  CHECK(s.count == 7);
  CHECK(s.wait == std::chrono::milliseconds{20});
  CHECK_FALSE(s.on);
  CHECK(s.name == "y");
  CHECK(s.items == std::vector<std::string>{"a", "b"});
  CHECK(s.nested.size == 2);
}

TEST_CASE("reading names the key and the bad value", "[core][keys]") {
  CHECK(error_of(R"({"count": 11})") ==
        "count must be an integer in 1..10, got 11");
  CHECK(error_of(R"({"nested": {"size": "big"}})") ==
        "nested.size must be an integer in 1..8, got \"big\"");
  CHECK(error_of(R"({"nested": {"sise": 1}})") ==
        "unknown config key 'nested.sise'");
  CHECK(error_of(R"({"on": 1})") == "on must be true or false, got 1");
  CHECK(error_of(R"({"items": [1]})") ==
        "items must be a list of strings, got [1]");
  CHECK(error_of(R"({"old": 1})") == "old was replaced by count");
}

TEST_CASE("the declared range also checks a struct set in code",
          "[core][keys]") {
  sample s;
  CHECK_FALSE(sample_keys().check(s, "top"));
  s.count = 0;
  REQUIRE(sample_keys().check(s, "top"));
  CHECK(sample_keys().check(s, "top")->message ==
        "top.count must be in 1..10, got 0");
  s = {};
  s.wait = std::chrono::milliseconds{-1};
  CHECK(sample_keys().check(s, "top")->message ==
        "top.wait must be > 0 ms, got -1");
  s = {};
  s.nested.size = 9;
  CHECK(sample_keys().check(s, "top")->message ==
        "top.nested.size must be in 1..8, got 9");
}

TEST_CASE("the declarations describe themselves as a JSON Schema",
          "[core][keys]") {
  auto schema = sample_keys().schema(sample{});
  CHECK(schema["additionalProperties"] == false);
  auto& count = schema["properties"]["count"];
  CHECK(count["minimum"] == 1);
  CHECK(count["maximum"] == 10);
  CHECK(count["default"] == 3);
  CHECK(count["description"] == "how many");
  CHECK(schema["properties"]["nested"]["properties"]["size"]["maximum"] == 8);
}
