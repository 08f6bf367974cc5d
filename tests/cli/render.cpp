#include "cli/render.hpp"

#include <catch2/catch.hpp>

#include "support/results.hpp"

using namespace troupe;

using test::sample_result;

TEST_CASE("the text result lists what was remembered", "[cli]") {
  auto text = cli::to_text(sample_result());
  CHECK(text == "done\n\nRemembered:\n  - a fact\n");
  task_result plain;
  plain.answer = "x";
  CHECK(cli::to_text(plain) == "x\n");
}
