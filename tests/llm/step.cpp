#include "llm/step.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("a model step gets unique call ids", "[llm]") {
  chat_response resp{{}, {{"", "a", "{}"}, {"x", "b", "{}"}, {"x", "c", "{}"}}};
  auto norm = llm::normalize_step(resp, 16);
  REQUIRE(norm);
  auto& calls = norm->tool_calls;
  CHECK(calls[0].id == "call_1");
  CHECK(calls[1].id == "x");
  CHECK(calls[2].id == "call_3");
}

TEST_CASE("empty and oversized model steps are rejected", "[llm]") {
  auto empty = llm::normalize_step(chat_response{}, 2);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == errc::provider_failed);
  chat_response many{{},
                     {{"1", "a", "{}"}, {"2", "a", "{}"}, {"3", "a", "{}"}}};
  auto too_many = llm::normalize_step(many, 2);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().message.find("limit is 2") != std::string::npos);
  auto text = llm::normalize_step(chat_response{"done", {}}, 2);
  REQUIRE(text);
  CHECK(text->content == "done");
}
