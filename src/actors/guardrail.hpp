#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "guardrail/access.hpp"
#include "guardrail/approval.hpp"
#include "guardrail/input_filter.hpp"
#include "guardrail/output_filter.hpp"
#include "guardrail/rules.hpp"
#include "tools/tool.hpp"

namespace troupe {

/// What the guardrail needs to authorise tool calls.
struct tool_authority {
  std::shared_ptr<guardrail::access_holder> access;
  /// The tools in force: the permissions each needs (a tool not listed
  /// needs execute_tools).
  std::shared_ptr<const tools::catalog> catalog;
  /// Signs approvals; the tool executors hold the same key.
  guardrail::approval_key key;
  /// How long an approval stays valid.
  std::chrono::milliseconds lifetime{120000};
};

/// State of the guardrail role: where its rules are, and the tool-call
/// authority.
struct guardrail_state {
  /// Outside the actor, so a restarted guardrail keeps reloaded rules.
  std::shared_ptr<guardrail::rules_holder> rules;
  std::shared_ptr<const tool_authority> authority;
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
               std::shared_ptr<guardrail::rules_holder> rules,
               std::shared_ptr<const tool_authority> authority,
               fault_spec faults);

} // namespace troupe
