#include "cli/render.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

task_result sample() {
  task_result r;
  r.id = 3;
  r.status = task_status::completed;
  r.answer = "done";
  r.steps.push_back(
    {{{"c1", "memory_store", R"({"text":"a fact"})"},
      {"c2", "calculator", "not json"}},
     {{"c1", "memory_store", true, R"({"id":1,"text":"a fact"})"},
      {"c2", "calculator", false, R"({"error":"bad","code":"tool_failed"})"}}});
  return r;
}

} // namespace

TEST_CASE("the text result lists what was remembered", "[cli]") {
  auto text = cli::to_text(sample());
  CHECK(text == "done\n\nRemembered:\n  - a fact\n");
  task_result plain;
  plain.answer = "x";
  CHECK(cli::to_text(plain) == "x\n");
}
