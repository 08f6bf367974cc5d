#pragma once

// The daemon's Prometheus metrics: task ends, HTTP responses, the engine's
// counters and the cluster's peers, rendered for GET /metrics.

#include <cstdint>
#include <memory>
#include <string>

#include "core/types.hpp"
#include "daemon/backend.hpp"
#include "http/server.hpp"
#include "store/pg.hpp"

namespace troupe::daemon {

/// Every metric the daemon exports; thread-safe (prometheus-cpp).
class metrics {
public:
  metrics();
  ~metrics();

  /// Counts one HTTP response with `status`.
  void response(int status);

  /// Tasks accepted and not yet ended.
  void set_active(size_t n);

  /// Replicas: streams following tasks another replica runs; tasks taken
  /// over from a replica whose leases expired; tasks this one lost to
  /// another (fenced).
  void set_followed_elsewhere(size_t n);
  void taken_over(size_t n);
  void fenced();

  /// The journal's count of pruned tasks so far (retention).
  void set_pruned(uint64_t total);

  /// Counts an ended task: by agent and status, its duration, its tokens
  /// and its tool calls.
  void task_ended(const task_result& r, const std::string& agent,
                  double seconds);

  /// Brings the engine's counters (`c`), the cluster's peers and routes (if
  /// `b`), the journal's commit count and the server's connections (if
  /// `srv`) and the store's pool (if `pool`) up to date, and renders
  /// every metric in the text format.
  std::string render(const engine_counters& c, backend* b, uint64_t commits,
                     const http::server* srv,
                     const store::pg_pool_stats* pool = nullptr);

private:
  struct families;
  std::unique_ptr<families> f_;
};

} // namespace troupe::daemon
