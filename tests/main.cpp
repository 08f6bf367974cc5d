#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "core/log.hpp"

int main(int argc, char** argv) {
  // Tests check events through the monitor's counters; log lines would only
  // bury Catch's report.
  troupe::log::set_level("off");
  return Catch::Session().run(argc, argv);
}
