#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "actors/settings.hpp"

namespace troupe {

/// State of one task's agent loop.
struct task_runner_state {
  std::shared_ptr<const role_set> roles;
  /// Where restarted roles are published (for retries).
  std::shared_ptr<const role_directory> directory;
  /// Planner requests retried so far (a crashed planner bounces its queue).
  uint32_t planner_retries = 0;
  /// Position in the provider fallback chain (0: the primary).
  uint32_t provider = 0;
  /// The tool calls of the current step, and per call how often a retry
  /// waited for the crashed role's successor (0: not retried).
  std::vector<tool_call> calls;
  std::vector<uint32_t> call_retries;
  /// Calls of the current step whose results the guardrail flagged.
  std::vector<std::string> flagged_results;
  /// The task as accepted.
  task_request request;
  /// Hears of each finished step (may be null).
  caf::actor observer;
  /// The conversation so far: user input, model steps, tool results.
  std::vector<chat_message> history;
  /// Built up as the loop runs; delivered once at the end.
  task_result result;
  caf::typed_response_promise<task_result> promise;
  /// Tool calls of the current step still without a result.
  size_t pending = 0;
  /// What the task waits for now, for the deadline's error message.
  const char* waiting_for = "the guardrail";

  static inline const char* name = "troupe.task_runner";
};

/// Spawns a runner for one task: guardrail check, memory recall, then
/// plan -> run the step's tool calls in parallel -> plan ... until a final
/// answer, a failure, the step limit, or the task deadline (which bounds
/// every request the runner makes). It answers exactly once and quits: an
/// exception in the runner fails the task, an exit message (e.g. shutdown)
/// cancels it.
task_runner_actor::behavior_type
task_runner_role(task_runner_actor::stateful_pointer<task_runner_state> self,
                 std::shared_ptr<const role_set> roles,
                 std::shared_ptr<const role_directory> directory);

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
