#pragma once

// Short-term memory: what a session said it wants remembered, kept in RAM
// with hard bounds so a chatty or hostile client cannot grow it without limit.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace troupe::memory {

/// Per-session memory with keyword recall, bounded twice: each session keeps
/// at most `capacity_per_session` entries (evicting its least recently used
/// one) and the store keeps at most `max_sessions` sessions (dropping the
/// least recently used session). Not thread-safe: the memory actor owns it.
class short_term_store {
public:
  /// Capacities of 0 are treated as 1.
  explicit short_term_store(size_t capacity_per_session = 1000,
                            size_t max_sessions = 10000);

  /// Stores `text` in `session` and returns its id (ids grow across all
  /// sessions). Storing a text the session already holds refreshes that
  /// entry (it becomes the newest and most recently used) and returns its
  /// existing id instead of duplicating it.
  uint64_t store(std::string_view session, std::string_view text);

  /// Returns up to `limit` entries of `session` that share keywords with
  /// `query`, scored by the fraction of the query's keywords they contain
  /// (0..1], best first, newer first on ties. A query without keywords
  /// returns the `limit` newest entries with score 0. Not const: returned
  /// entries count as used for LRU eviction and the session as active, so
  /// recall changes which entry and session are evicted next.
  std::vector<memory_hit> recall(std::string_view session,
                                 std::string_view query, size_t limit);

  /// Number of entries in `session` (0 if unknown).
  size_t size(std::string_view session) const;

  /// Number of sessions held.
  size_t sessions() const noexcept;

private:
  struct entry {
    uint64_t id = 0;
    /// When the text was last stored; orders "newest first".
    uint64_t stored_at = 0;
    std::string text;
    /// Sorted, unique keywords of `text`.
    std::vector<std::string> keywords;
  };

  using entry_list = std::list<entry>;

  struct session_data {
    /// Front: most recently used.
    entry_list entries;
    std::map<std::string, entry_list::iterator, std::less<>> by_text;
    std::list<std::string>::iterator lru_pos;
  };

  session_data& touch_session(std::string_view session);

  size_t capacity_;
  size_t max_sessions_;
  uint64_t next_id_ = 1;
  uint64_t clock_ = 0;
  /// Session names, front: most recently used.
  std::list<std::string> session_lru_;
  std::map<std::string, session_data, std::less<>> sessions_;
};

/// Lowercase keywords of `text` (split on non-alphanumerics, stopwords
/// dropped), sorted and unique. Bytes >= 0x80 count as letters so UTF-8
/// words stay whole.
std::vector<std::string> keywords(std::string_view text);

} // namespace troupe::memory
