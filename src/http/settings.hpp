#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/keys.hpp"
#include "core/result.hpp"

namespace troupe {

/// The daemon, `troupe serve` (key `serve`): its HTTP server and the task
/// service behind it.
struct serve_config {
  /// HOST:PORT to listen on (port 0: any free one).
  std::string listen = "127.0.0.1:8080";
  /// Threads of the HTTP server (they hold every connection).
  uint32_t io_threads = 1;
  /// Largest request body, in bytes (413 beyond).
  size_t max_body_bytes = 1 << 20;
  /// Deepest nesting of a JSON body (400 beyond).
  size_t max_json_depth = 64;
  /// Most open connections (503 beyond).
  size_t max_connections = 20000;
  /// A request must arrive within this time (408 beyond); bounds writes.
  std::chrono::milliseconds io_timeout{30000};
  /// On SIGTERM/SIGINT: how long in-flight tasks may run on before the
  /// daemon exits (they stay in the journal).
  std::chrono::milliseconds drain{20000};
  /// Requests per second per principal, and the burst above it (429
  /// beyond); 0: no limit.
  double rate_limit = 50;
  uint32_t rate_burst = 100;
  /// Finished tasks kept in memory for GET (older ones are read from the
  /// journal).
  size_t keep_finished = 10000;
  /// fsync each journal commit: an acknowledged task survives a power cut.
  bool durable = true;
  /// The variable holding the token `/metrics` requires (as `Authorization:
  /// Bearer <token>`); empty: /metrics is open, like /health.
  std::string metrics_token_env;
};

namespace http {

/// The declarations of the `serve` keys.
const keys<serve_config>& serve_keys();

/// Checks the ranges and the listen address.
result<bool> validate(const serve_config& cfg);

} // namespace http

} // namespace troupe
