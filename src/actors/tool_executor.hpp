#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "guardrail/approval.hpp"
#include "tools/tool.hpp"

namespace troupe {

/// State of a local tool executor: the registry it serves, and its workers.
struct tool_executor_state {
  std::shared_ptr<const tools::registry> registry;
  /// Checks the guardrail's approval of every call before it runs.
  std::shared_ptr<guardrail::approval_verifier> verifier;
  /// Workers that run the calls (empty: calls run in the executor itself).
  std::vector<tool_executor_actor> workers;
  size_t next_worker = 0;
  /// Drills only: crashes on configured calls.
  fault_injector faults;

  static inline const char* name = "troupe.tool_executor";
};

/// Spawns a tool executor for the tools of `registry`. With `workers` > 1 it
/// spreads calls round robin over that many worker actors, so the calls of
/// one step run in parallel; with 1 it runs every call itself. A call runs
/// only with a valid approval from the guardrail (see `verifier`); any other
/// is refused with `forbidden`.
tool_executor_actor::behavior_type tool_executor_role(
  tool_executor_actor::stateful_pointer<tool_executor_state> self,
  std::shared_ptr<const tools::registry> registry, size_t workers,
  std::shared_ptr<guardrail::approval_verifier> verifier, fault_spec faults);

/// State of the local front for a tool executor on another node.
struct remote_tools_state {
  // Declared so the struct is no aggregate: CAF constructs a state from
  // the actor's `this` when it can, which would bind a handle member to it.
  remote_tools_state() = default;

  /// The executor on the other node.
  tool_executor_actor remote;
  /// Where it lives, for error messages ("127.0.0.1:4242").
  std::string where;
  /// Set once the remote node is lost; every call then fails at once.
  bool down = false;
  /// Calls forwarded and not answered yet, by local sequence number.
  std::unordered_map<uint64_t, caf::typed_response_promise<tool_result>>
    pending;
  uint64_t next_id = 0;

  static inline const char* name = "troupe.remote_tools";
};

/// Spawns a local front for `remote`. It monitors the remote actor and, when
/// its node is lost, fails every pending call at once with `role_down`
/// instead of letting each wait for its full timeout (CAF's remote requests
/// do not fail on node loss by themselves).
tool_executor_actor::behavior_type remote_tools_role(
  tool_executor_actor::stateful_pointer<remote_tools_state> self,
  tool_executor_actor remote, std::string where,
  std::chrono::milliseconds timeout);

} // namespace troupe
