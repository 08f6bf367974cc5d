#pragma once

#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/config.hpp"

namespace troupe {

/// State of the planner: who it asks, and what it may offer the model.
struct planner_state {
  // Declared so the struct is no aggregate: CAF constructs a state from
  // the actor's `this` when it can, which would bind a handle member to it.
  planner_state() = default;

  provider_actor provider;
  memory_actor memory;
  /// The tools offered to the model on every step.
  std::vector<tool_spec> tools;
  struct timeouts timeouts;
  uint32_t max_parallel_calls = 16;

  /// Checks and tidies a model's answer: gives every call a unique id and
  /// rejects answers with neither text nor calls, or too many calls.
  caf::expected<chat_response> normalize(chat_response resp) const;

  static inline const char* name = "troupe.planner";
};

/// Spawns the planner. On a task's first step it recalls related memories
/// (skipped if memory is slow or down) and passes them to the model as
/// context; every step asks the provider for the next move.
planner_actor::behavior_type
planner_role(planner_actor::stateful_pointer<planner_state> self,
             provider_actor provider, memory_actor memory,
             std::vector<tool_spec> tools, struct timeouts timeouts,
             uint32_t max_parallel_calls);

} // namespace troupe
