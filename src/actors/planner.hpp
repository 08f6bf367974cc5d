#pragma once

#include <memory>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory.hpp"
#include "actors/protocol.hpp"
#include "core/faults.hpp"

namespace troupe {

/// State of the planner: the model it asks and the tools it offers.
struct planner_state {
  /// Where the current provider is (it may have restarted).
  std::shared_ptr<const role_directory> directory;
  /// Drills only: crashes on configured messages.
  fault_injector faults;

  static inline const char* name = "troupe.planner";
};

/// Spawns the planner: turns a task's conversation into a model request
/// (with the tools on offer) and hands it to the provider, whose answer goes
/// straight back to the task runner.
///
/// The planner delegates instead of waiting for the answer on purpose: it
/// serves every task, and CAF 0.17 keeps an actor's awaited responses in a
/// flat list (linear work per reply) and its request timeouts alive until
/// they fire. A shared role that awaited one reply per task would get slower
/// with every task in flight; the per-task runner awaits instead.
planner_actor::behavior_type
planner_role(planner_actor::stateful_pointer<planner_state> self,
             std::shared_ptr<const role_directory> directory,
             std::string role, fault_spec faults);

} // namespace troupe
