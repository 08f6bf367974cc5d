#include "core/codec.hpp"

#include <catch2/catch.hpp>

#include "support/results.hpp"

using namespace troupe;

using test::sample_result;

TEST_CASE("the JSON result carries steps as JSON values", "[core][codec]") {
  auto j = to_json(sample_result());
  CHECK(j["id"] == 3);
  CHECK(j["status"] == "completed");
  CHECK(j["error_code"].is_null());
  CHECK(j["steps"][0]["calls"][0]["arguments"]["text"] == "a fact");
  // Broken JSON from a model is shown as the raw string, not dropped.
  CHECK(j["steps"][0]["calls"][1]["arguments"] == "not json");
  CHECK(j["steps"][0]["results"][1]["ok"] == false);
  CHECK(j["remembered"] == json::array({"a fact"}));
}

TEST_CASE("a step survives the round trip through its JSON", "[core][codec]") {
  auto step = sample_result().steps[0];
  auto back = step_from_json(to_json(step));
  REQUIRE(back.calls.size() == 2);
  CHECK(back.calls[0].id == "c1");
  CHECK(back.calls[0].name == "memory_store");
  CHECK(json::parse(back.calls[0].arguments) == json::parse(step.calls[0].arguments));
  // Text that was not JSON comes back as it was.
  CHECK(back.calls[1].arguments == "not json");
  REQUIRE(back.results.size() == 2);
  CHECK(back.results[1].call_id == "c2");
  CHECK_FALSE(back.results[1].ok);
  CHECK(json::parse(back.results[1].output) == json::parse(step.results[1].output));
  CHECK(to_json(back) == to_json(step));
}
