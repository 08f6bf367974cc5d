#pragma once

#include <memory>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "guardrail/input_filter.hpp"

namespace troupe {

/// State of the guardrail role: the compiled input checks.
struct guardrail_state {
  std::shared_ptr<const guardrail::input_filter> input;
  /// Drills only: crashes on configured messages.
  fault_injector faults;

  static inline const char* name = "troupe.guardrail";
};

/// Spawns as the guardrail role.
guardrail_actor::behavior_type
guardrail_role(guardrail_actor::stateful_pointer<guardrail_state> self,
               std::shared_ptr<const guardrail::input_filter> input,
               fault_spec faults);

} // namespace troupe
