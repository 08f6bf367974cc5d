#pragma once

#include <memory>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "guardrail/input_filter.hpp"
#include "guardrail/output_filter.hpp"

namespace troupe {

/// State of the guardrail role: the compiled input checks.
struct guardrail_state {
  std::shared_ptr<const guardrail::input_filter> input;
  std::shared_ptr<const guardrail::output_filter> output;
  /// Drills only: crashes on configured messages.
  fault_injector faults;

  static inline const char* name = "troupe.guardrail";
};

/// The verdict on an output: deny if a block rule matched ("contains
/// <rule>"), redact with the masked text ("redacted: email, card"), else
/// allow; flagged rules are named in the reason ("flagged: …").
verdict output_verdict(const guardrail::output_filter& filter,
                       std::string_view text);

/// Spawns as the guardrail role.
guardrail_actor::behavior_type
guardrail_role(guardrail_actor::stateful_pointer<guardrail_state> self,
               std::shared_ptr<const guardrail::input_filter> input,
               std::shared_ptr<const guardrail::output_filter> output,
               fault_spec faults);

} // namespace troupe
