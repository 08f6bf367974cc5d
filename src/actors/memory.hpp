#pragma once

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "memory/short_term.hpp"

namespace troupe {

/// State of the memory role: the short-term store (per session, LRU).
struct memory_state {
  memory::short_term_store store;

  static inline const char* name = "troupe.memory";
};

/// Spawns as the memory role with the given bounds.
memory_actor::behavior_type
memory_role(memory_actor::stateful_pointer<memory_state> self,
            size_t capacity_per_session, size_t max_sessions);

} // namespace troupe
