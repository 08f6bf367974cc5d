#pragma once

// The actors around the long-term store: one writer that batches stores into
// transactions, and readers that serve recall on their own connections.
// Both are spawned detached by the memory role (SQLite calls block, and an
// fsync must never hold a scheduler thread).

#include <memory>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/protocol.hpp"
#include "memory/long_term.hpp"

namespace troupe {

/// State of the writer: its connection and the batch being collected.
struct memory_writer_state {
  struct pending {
    memory::record rec;
    tool_invocation inv;
    caf::typed_response_promise<tool_result> promise;
  };

  std::unique_ptr<memory::long_term_store> store;
  std::vector<pending> batch;
  /// A flush message is in the mailbox.
  bool flush_scheduled = false;
  /// Memories stored since the last compaction (expiry and caps).
  uint64_t since_compaction = 0;

  static inline const char* name = "troupe.memory_writer";
};

/// Spawns the writer over the store `cfg` names. Stores that arrive while a
/// batch is open join it: the batch is committed when the writer's mailbox
/// reaches the flush message it sent itself, then every store in it is
/// answered (so an answer means committed). It quits with an error if the
/// store cannot be opened.
memory_writer_actor::behavior_type
memory_writer(memory_writer_actor::stateful_pointer<memory_writer_state> self,
              memory::long_term_config cfg);

struct memory_reader_state {
  std::unique_ptr<memory::long_term_store> store;

  static inline const char* name = "troupe.memory_reader";
};

/// Spawns a reader: a read-only connection that answers ranked recall,
/// merged with the session's hits it is handed.
memory_reader_actor::behavior_type
memory_reader(memory_reader_actor::stateful_pointer<memory_reader_state> self,
              memory::long_term_config cfg);

} // namespace troupe
