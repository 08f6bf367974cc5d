#pragma once

// Long-term memory: a SQLite database in WAL mode with an FTS5 index ranked
// by BM25. CAF-free: the memory actors own one store object per connection
// (one writer, a pool of readers), and the command line uses it directly.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
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

/// The FTS5 query for the keywords of `text` (see `keywords`) within
/// namespace `ns`: every word is a quoted string made of letters and digits
/// only (so quotes, `NEAR`, `*`, parentheses and SQL are just separators),
/// at most 16, OR-ed. Nothing if no word is left.
std::optional<std::string> match_expression(std::string_view ns,
                                            std::string_view text);

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

  /// Reads JSON lines as written by `export_jsonl` (ids are assigned anew)
  /// in one transaction: all or nothing. Errors name the line.
  result<uint64_t> import_jsonl(std::istream& in);

  const long_term_config& config() const {
    return cfg_;
  }

private:
  long_term_store() = default;

  result<uint64_t> enforce_cap(const std::string& ns);

  long_term_config cfg_;
  std::unique_ptr<SQLite::Database> db_;
  std::unique_ptr<SQLite::Statement> insert_;
  std::unique_ptr<SQLite::Statement> find_;
  std::unique_ptr<SQLite::Statement> refresh_;
  std::unique_ptr<SQLite::Statement> search_;
};

} // namespace troupe::memory
