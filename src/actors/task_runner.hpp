#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "actors/settings.hpp"
#include "guardrail/stream_filter.hpp"

namespace troupe {

/// State of one task's agent loop.
struct task_runner_state {
  std::shared_ptr<const role_set> roles;
  /// Where restarted roles are published (for retries).
  std::shared_ptr<const role_directory> directory;
  /// Planner requests retried so far (a crashed planner bounces its queue).
  uint32_t planner_retries = 0;
  /// The agent the task runs as (its prompt, tools, budgets, chain); null
  /// if the task named an unknown one.
  std::shared_ptr<const agents::agent> agent;
  /// Position in the agent's provider chain, and the provider there (an
  /// index into the engine's providers).
  uint32_t chain_pos = 0;
  uint32_t provider = 0;
  /// Where the user's turn starts in `history` (after the agent's
  /// instructions and recalled memories).
  size_t context_end = 0;
  /// The model's text on its way to the observer, filtered as the answer
  /// is (set when there is an observer).
  std::optional<guardrail::stream_filter> stream;
  /// Text of the current model call streamed in (if none, the answer goes
  /// to the observer whole).
  bool streamed = false;
  /// The model was asked once more for an answer that matches the output
  /// schema.
  bool repaired_output = false;
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
                 std::shared_ptr<const role_directory> directory,
                 std::shared_ptr<const agents::agent> agent);

} // namespace troupe
