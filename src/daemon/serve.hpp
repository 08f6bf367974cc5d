#pragma once

// `troupe serve`: the engine behind the HTTP API until SIGTERM/SIGINT;
// SIGHUP reloads what can change live.

#include <functional>

#include "config/config.hpp"

namespace troupe::daemon {

struct serve_options {
  engine_config config;
  /// Reads the config again (file, then environment) for SIGHUP.
  std::function<result<engine_config>()> reload;
};

/// Runs the daemon; returns the process exit code (0 after a clean drain,
/// 2 for bad config, 1 if it cannot start).
int serve(serve_options opts);

} // namespace troupe::daemon
