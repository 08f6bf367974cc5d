#pragma once

// The task manager: the entry point for tasks (admission, ids, a runner per
// task, deadlines on one timer).

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "actors/task_runner.hpp"

namespace troupe {

/// A running task, as the task manager tracks it.
struct running_task {
  uint64_t task_id = 0;
  std::chrono::steady_clock::time_point deadline;
  task_runner_actor runner;
};

/// State of the task manager: assigns ids, spawns a runner per task, and
/// enforces the task deadlines.
struct task_manager_state {
  /// Where the current roles are; each new task takes a snapshot.
  std::shared_ptr<const role_directory> directory;
  uint64_t next_id = 1;
  /// Runners still alive, by actor id (not task id: callers may reuse ids).
  std::unordered_map<caf::actor_id, running_task> running;
  /// Whether a deadline sweep is scheduled.
  bool ticking = false;

  /// How often deadlines are checked: a twentieth of the task deadline,
  /// within 10 ms .. 1 s (so a deadline fires at most 5% late).
  std::chrono::milliseconds tick_interval() const;

  static inline const char* name = "troupe.tasks";
};

/// Spawns the task manager: the entry point for tasks. It monitors every
/// runner (its entry goes when the runner ends, however it ends) and, when
/// told to exit, cancels the running tasks before it goes.
///
/// Deadlines are swept here, on one timer for all tasks, rather than with a
/// timer per task or per request: each CAF 0.17 timer is an event through
/// the clock's 64-slot queue, which blocks the sending worker when full and
/// became the bottleneck with 10^5 tasks in flight.
task_manager_actor::behavior_type
task_manager_role(task_manager_actor::stateful_pointer<task_manager_state> self,
                  std::shared_ptr<const role_directory> directory);

} // namespace troupe
