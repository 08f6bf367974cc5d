#pragma once

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"

namespace troupe {

/// State of the offline provider: only the drill hook.
struct rule_based_state {
  /// Drills only: crashes on configured messages.
  fault_injector faults;

  static inline const char* name = "troupe.rule_based_provider";
};

/// Spawns the offline rule-based provider: deterministic, no network, the
/// default model. It answers through the same interface as HTTP providers.
/// `role` is its name in the fallback chain ("provider", "provider.1"…).
streaming_provider_actor::behavior_type
rule_based_provider(streaming_provider_actor::stateful_pointer<rule_based_state> self,
                    std::string role, fault_spec faults);

} // namespace troupe
