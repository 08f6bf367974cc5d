#pragma once

// Long-term memory: a SQLite database in WAL mode with an FTS5 index ranked
// by BM25. CAF-free: the memory actors own one store object per connection
// (one writer, a pool of readers), and the command line uses it directly.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace SQLite {
class Database;
class Statement;
} // namespace SQLite

namespace troupe::memory {

/// One long-term memory.
struct record {
  /// Assigned by the store on insert.
  uint64_t id = 0;
  /// Whose memory it is: "<principal>/<agent>".
  std::string ns;
  std::string text;
  /// Unix time in milliseconds.
  int64_t created_ms = 0;
  /// Unix time in milliseconds after which it is gone; 0: never.
  int64_t expires_ms = 0;
  /// The task that stored it (0: none, e.g. imported).
  uint64_t source_task = 0;
  std::vector<std::string> tags;
};

/// A recalled memory and its BM25 relevance (higher is better).
struct ranked {
  record rec;
  double score = 0;
};

struct long_term_config {
  /// The database file; its directory is created if missing.
  std::filesystem::path file;
  /// Largest text accepted, in bytes.
  size_t max_entry_bytes = 8192;
  /// Most memories kept per namespace; the oldest go first.
  size_t max_per_namespace = 100000;
  /// fsync every commit (synchronous=FULL): an acknowledged write survives
  /// a power cut, not only a crash of the process.
  bool durable = true;
  /// How long a connection waits for another one's lock.
  std::chrono::milliseconds busy_timeout{5000};
};

/// Counts for `troupe memory stats`.
struct store_stats {
  uint64_t memories = 0;
  uint64_t expired = 0;
  uint64_t file_bytes = 0;
  /// Memories per namespace, by name.
  std::vector<std::pair<std::string, uint64_t>> namespaces;
};

/// What a compaction did.
struct compaction {
  uint64_t expired_removed = 0;
  uint64_t over_cap_removed = 0;
};

/// The search terms of `text`: its keywords (see `keywords`), at most 16.
std::vector<std::string> search_terms(std::string_view text);

/// An FTS5 query that ORs `terms`, each a quoted string. Terms are made of
/// letters and digits only, so quotes, `NEAR`, `*`, parentheses and SQL in
/// user text end up as separators, never as syntax.
std::string match_any(const std::vector<std::string>& terms);

/// The current time as Unix milliseconds.
int64_t now_ms();

/// A connection to the store. Not thread-safe: one owner at a time.
class long_term_store {
public:
  enum class mode { read_write, read_only };

  /// Opens (and, read-write, creates or upgrades) the store. A file that is
  /// not a Troupe memory database, is corrupt or stays locked gives an
  /// error naming the file and the cause.
  static result<std::unique_ptr<long_term_store>>
  open(const long_term_config& cfg, mode m = mode::read_write);

  ~long_term_store();

  long_term_store(const long_term_store&) = delete;
  long_term_store& operator=(const long_term_store&) = delete;

  /// Checks one record before it joins a batch: a namespace, a non-empty
  /// text within the size limit.
  result<bool> check(const record& r) const;

  /// Inserts `batch` in one transaction and sets the ids; returns them. A
  /// text already stored in its namespace keeps its id and gets the new
  /// time and expiry.
  /// Once it returns, the batch is committed (and synced when `durable`).
  /// Namespaces past their cap lose their oldest memories in the same
  /// transaction.
  result<std::vector<uint64_t>> insert(std::vector<record>& batch);

  /// The `limit` memories of `ns` most relevant to `query`, best first;
  /// expired ones are never returned.
  result<std::vector<ranked>> search(std::string_view ns,
                                     std::string_view query, size_t limit,
                                     int64_t now = now_ms());

  /// Deletes expired memories and enforces the caps, then merges the FTS
  /// index and returns freed pages to the file system.
  result<compaction> compact(int64_t now = now_ms());

  result<store_stats> stats(int64_t now = now_ms());

  /// Writes every memory (of `ns`, if given) as one JSON object per line;
  /// returns how many.
  result<uint64_t> export_jsonl(std::ostream& out,
                                std::optional<std::string> ns = {});

  /// What a text becomes before it is stored (`memory.redact_on_store`):
  /// the text to store, or why it may not be.
  using text_filter = std::function<result<std::string>(const std::string&)>;

  /// Reads JSON lines as written by `export_jsonl` (ids are assigned anew)
  /// in one transaction: all or nothing. Each text passes `filter` first,
  /// if given. Errors name the line.
  result<uint64_t> import_jsonl(std::istream& in,
                                const text_filter& filter = {});

  const long_term_config& config() const {
    return cfg_;
  }

  /// Terms found in more than this many memories of a namespace are
  /// "common": ranking by them would cost time in proportion to the store,
  /// so they only fill up results the rare terms leave short.
  static constexpr size_t common_term_docs = 10000;

  /// The newest matches of the rare terms ranked by BM25 per query
  /// (relevance among recent memories: the cost stays flat as the store
  /// grows).
  static constexpr size_t ranked_candidates = 1000;

private:
  struct ns_statements;

  long_term_store() = default;

  /// The id of namespace `ns`, created if `create`; nothing if absent.
  std::optional<int64_t> namespace_id(const std::string& ns, bool create);

  /// Cached statements on the namespace's own FTS table.
  ns_statements& statements(int64_t ns_id);

  /// Deletes memories (and their index entries) by id.
  uint64_t remove(const std::vector<std::pair<int64_t, int64_t>>& ids_ns);

  uint64_t enforce_cap(int64_t ns_id);

  long_term_config cfg_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> insert_;
  std::unique_ptr<SQLite::Statement> find_;
  std::unique_ptr<SQLite::Statement> refresh_;
  std::map<std::string, int64_t, std::less<>> namespaces_;
  /// Created by the transaction in progress; kept once it commits.
  std::map<std::string, int64_t, std::less<>> pending_namespaces_;
  std::map<int64_t, std::unique_ptr<ns_statements>> ns_statements_;
};

} // namespace troupe::memory
