#include "actors/planner.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("the planner gives every tool call a unique id",
          "[actors][planner]") {
  planner_state st;
  chat_response resp{{}, {{"", "a", "{}"}, {"x", "b", "{}"}, {"x", "c", "{}"}}};
  auto norm = st.normalize(resp);
  REQUIRE(norm);
  auto& calls = norm->tool_calls;
  CHECK(calls[0].id == "call_1");
  CHECK(calls[1].id == "x");
  CHECK(calls[2].id == "call_3");
}

TEST_CASE("the planner rejects empty and oversized model answers",
          "[actors][planner]") {
  planner_state st;
  st.max_parallel_calls = 2;
  auto empty = st.normalize(chat_response{});
  REQUIRE_FALSE(empty);
  CHECK(code_of(empty.error()) == errc::provider_failed);
  chat_response many{{},
                     {{"1", "a", "{}"}, {"2", "a", "{}"}, {"3", "a", "{}"}}};
  auto too_many = st.normalize(many);
  REQUIRE_FALSE(too_many);
  CHECK(describe(too_many.error()).find("limit is 2") != std::string::npos);
  auto text = st.normalize(chat_response{"done", {}});
  REQUIRE(text);
  CHECK(text->content == "done");
}
