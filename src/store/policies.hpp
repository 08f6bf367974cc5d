#pragma once

// What the store keeps and who runs what: the leases a process takes on
// the tasks it runs, and how long finished tasks are kept. Plain settings,
// for the journal and the config alike. CAF-free.

#include <chrono>
#include <cstdint>
#include <string>

namespace troupe::store {

/// The leases this process takes on the tasks it runs.
struct lease_settings {
  /// Its name among the replicas sharing the store (unique to each
  /// running process; a replica that restarts under the same name takes
  /// back its own tasks at once instead of after their leases expire).
  std::string owner = "local";
  /// How long a lease lasts without renewal: a dead replica's tasks are
  /// taken over this long after its last renewal.
  int64_t lease_ms = 10000;
};

/// How long finished tasks are kept (`store.retention`). A task that has
/// not ended, and a run of a thread that still exists, is never pruned.
struct retention_settings {
  /// Finished tasks older than this many hours go (0: no age limit).
  uint32_t max_age_hours = 24 * 7;
  /// At most this many finished tasks are kept, the newest (0: no limit;
  /// a live thread's runs are kept besides).
  uint64_t max_tasks = 1000000;
  /// How often the pruner looks, and how many tasks one of its
  /// transactions removes (small: writes go on between them).
  std::chrono::milliseconds every{60000};
  uint32_t batch = 500;
};

} // namespace troupe::store
