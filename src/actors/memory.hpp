#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "guardrail/access.hpp"
#include "guardrail/rules.hpp"
#include "memory/long_term.hpp"
#include "memory/short_term.hpp"

namespace troupe {

/// The short-term store, owned outside the actor so it survives a restart
/// of the memory role. Only the one running memory actor touches it.
using shared_store = std::shared_ptr<memory::short_term_store>;

/// What the memory role is built from (besides its short-term store).
struct memory_setup {
  /// The long-term store, if the engine keeps one.
  std::optional<memory::long_term_config> long_term;
  /// Reader connections for recall.
  uint32_t readers = 2;
  /// Lifetime given to stored memories; 0: forever.
  std::chrono::milliseconds ttl{0};
  /// Who may read and write memory.
  std::shared_ptr<guardrail::access_holder> access;
  /// With `memory.redact_on_store`: the rules whose output filter masks a
  /// text before it is stored.
  std::shared_ptr<const guardrail::rules_holder> redact;
};

/// State of the memory role: the short-term store (per session, LRU) and,
/// with a long-term store, its writer and readers.
struct memory_state {
  shared_store store;
  std::shared_ptr<const memory_setup> setup;
  memory_writer_actor writer;
  std::vector<memory_reader_actor> readers;
  size_t next_reader = 0;
  /// Drills only: crashes on configured messages.
  fault_injector faults;

  static inline const char* name = "troupe.memory";
};

/// Spawns as the memory role over `store`. A stored fact goes to the
/// session's short-term memory and (promoted) to the long-term store of the
/// principal's agent; recall merges both. Every access needs the
/// principal's read_memory / write_memory permission.
memory_actor::behavior_type
memory_role(memory_actor::stateful_pointer<memory_state> self,
            shared_store store, std::shared_ptr<const memory_setup> setup,
            fault_spec faults);

} // namespace troupe
