#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

#include "core/log.hpp"
#include "support/temp_dir.hpp"

int main(int argc, char** argv) {
  // Tests check events through the monitor's counters; log lines would only
  // bury Catch's report.
  troupe::log::set_level("off");
  // The `troupe` processes tests start keep long-term memory in the XDG
  // data directory: point it at a throwaway one, never at the user's.
  troupe::test::temp_dir data{"xdg"};
  setenv("XDG_DATA_HOME", data.path.c_str(), 1);
  return Catch::Session().run(argc, argv);
}
