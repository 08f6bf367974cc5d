#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>

#include "core/keys.hpp"
#include "core/result.hpp"
#include "memory/long_term.hpp"

namespace troupe::memory {

/// Short- and long-term memory (key `memory`).
struct settings {
  /// Short-term memory: entries kept per session (LRU beyond that).
  size_t capacity = 1000;
  /// Short-term memory: sessions kept (LRU beyond that).
  size_t max_sessions = 10000;
  /// Keep long-term memory in the data directory.
  bool long_term = true;
  /// Largest memory accepted, in bytes.
  size_t max_entry_bytes = 8192;
  /// Most memories kept per namespace; the oldest go first.
  size_t max_per_namespace = 100000;
  /// fsync each commit: acknowledged memories survive a power cut.
  bool durable = true;
  /// Reader connections (recall runs on them, never behind writes).
  uint32_t readers = 2;
  /// Memories recalled before planning.
  uint32_t recall_limit = 3;
  /// Mask what the guardrail's redact rules match before a memory is
  /// stored (and refuse one a block rule matches): a card number or key
  /// never reaches memory.db.
  bool redact_on_store = true;
  /// Lifetime of a stored memory; 0: forever (key `ttl_days`).
  std::chrono::milliseconds ttl{0};
};

/// The declarations of the `memory` keys.
const keys<settings>& settings_keys();

/// The long-term store's settings if `cfg` keeps one in `data_dir` (a data
/// directory is set and long-term memory is on).
std::optional<long_term_config> long_term_of(const settings& cfg,
                                             const std::filesystem::path& data_dir);

} // namespace troupe::memory
