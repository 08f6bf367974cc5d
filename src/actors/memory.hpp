#pragma once

#include <memory>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "memory/short_term.hpp"

namespace troupe {

/// The short-term store, owned outside the actor so it survives a restart
/// of the memory role. Only the one running memory actor touches it.
using shared_store = std::shared_ptr<memory::short_term_store>;

/// State of the memory role: the short-term store (per session, LRU).
struct memory_state {
  shared_store store;
  /// Drills only: crashes on configured messages.
  fault_injector faults;

  static inline const char* name = "troupe.memory";
};

/// Spawns as the memory role over `store`.
memory_actor::behavior_type
memory_role(memory_actor::stateful_pointer<memory_state> self,
            shared_store store, fault_spec faults);

} // namespace troupe
