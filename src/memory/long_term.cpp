#include "memory/long_term.hpp"

#include <limits>

#include <algorithm>
#include <array>
#include <chrono>
#include <istream>
#include <ostream>
#include <set>
#include <system_error>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "core/json.hpp"
#include "memory/short_term.hpp"

namespace troupe::memory {

namespace {

/// Bumped when the schema changes; a newer file is refused.
constexpr int schema_version = 1;

/// FNV-1a, 64 bits.
uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

failure sql_failure(const std::string& what, const std::exception& e) {
  return failure{errc::unspecified, what + ": " + e.what()};
}

std::string tags_json(const std::vector<std::string>& tags) {
  return dump(json(tags));
}

std::vector<std::string> tags_from(const std::string& text) {
  std::vector<std::string> out;
  auto j = parse_json(text, "tags").value_or(json{});
  if (j.is_array())
    for (auto& t : j)
      if (t.is_string())
        out.push_back(t.get<std::string>());
  return out;
}

json to_json(const record& r) {
  return {{"id", r.id},
          {"namespace", r.ns},
          {"text", r.text},
          {"created_ms", r.created_ms},
          {"expires_ms", r.expires_ms},
          {"source_task", r.source_task},
          {"tags", r.tags}};
}

record read_record(SQLite::Statement& q) {
  record r;
  r.id = static_cast<uint64_t>(q.getColumn(0).getInt64());
  r.ns = q.getColumn(1).getString();
  r.text = q.getColumn(2).getString();
  r.created_ms = q.getColumn(3).getInt64();
  r.expires_ms = q.getColumn(4).getInt64();
  r.source_task = static_cast<uint64_t>(q.getColumn(5).getInt64());
  r.tags = tags_from(q.getColumn(6).getString());
  return r;
}

} // namespace

namespace {

/// The columns `read_record` reads, from `memories m` joined with
/// `namespaces n`.
constexpr const char* record_columns =
  "m.id, n.name, m.text, m.created_ms, m.expires_ms, m.source_task, m.tags";

std::string fts_table(int64_t ns_id) {
  return "fts_" + std::to_string(ns_id);
}

} // namespace

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::vector<std::string> search_terms(std::string_view text) {
  auto terms = keywords(text);
  if (terms.size() > 16)
    terms.resize(16);
  return terms;
}

namespace {

std::string join_terms(const std::vector<std::string>& terms,
                       const char* op) {
  std::string out;
  for (auto& t : terms) {
    if (!out.empty())
      out += op;
    // Inside double quotes nothing is FTS5 syntax; terms hold no quotes.
    out += "\"" + t + "\"";
  }
  return out;
}

/// An FTS5 query for memories that have all of `terms`.
std::string match_all(const std::vector<std::string>& terms) {
  return join_terms(terms, " AND ");
}

} // namespace

std::string match_any(const std::vector<std::string>& terms) {
  return join_terms(terms, " OR ");
}

/// Statements on one namespace's FTS table.
struct long_term_store::ns_statements {
  /// Matches of one term, capped: tells rare terms from common ones.
  SQLite::Statement probe;
  /// The newest matches of the rare terms, ranked by BM25.
  SQLite::Statement ranked;
  /// Matches in stored order, unranked (for common terms: walking their
  /// long doclists backwards would read them whole).
  SQLite::Statement newest;
  SQLite::Statement index;
  SQLite::Statement unindex;

  ns_statements(SQLite::Database& db, int64_t ns_id)
    : probe(db, "SELECT count(*) FROM (SELECT rowid FROM " + fts_table(ns_id) +
                  " WHERE " + fts_table(ns_id) + " MATCH ? LIMIT ?)"),
      ranked(db, std::string{"SELECT "} + record_columns + ", r.score FROM "
                   "(SELECT rowid, bm25(" + fts_table(ns_id) +
                   ") AS score FROM " + fts_table(ns_id) + " WHERE " +
                   fts_table(ns_id) +
                   " MATCH ?1 ORDER BY rowid DESC LIMIT ?2) AS r "
                   "JOIN memories m ON m.id = r.rowid "
                   "JOIN namespaces n ON n.id = m.ns_id "
                   "WHERE m.expires_ms = 0 OR m.expires_ms > ?3 "
                   "ORDER BY r.score LIMIT ?4"),
      newest(db, std::string{"SELECT "} + record_columns + ", 0 FROM "
                   "(SELECT rowid FROM " + fts_table(ns_id) + " WHERE " +
                   fts_table(ns_id) +
                   " MATCH ?1 ORDER BY rowid LIMIT ?2) AS r "
                   "JOIN memories m ON m.id = r.rowid "
                   "JOIN namespaces n ON n.id = m.ns_id "
                   "WHERE m.expires_ms = 0 OR m.expires_ms > ?3 "
                   "LIMIT ?4"),
      index(db, "INSERT INTO " + fts_table(ns_id) + "(rowid, text) "
                  "VALUES (?, ?)"),
      unindex(db, "INSERT INTO " + fts_table(ns_id) + "(" + fts_table(ns_id) +
                    ", rowid, text) VALUES ('delete', ?, ?)") {}
};

long_term_store::~long_term_store() = default;

result<std::unique_ptr<long_term_store>>
long_term_store::open(const long_term_config& cfg, mode m) {
  std::unique_ptr<long_term_store> out{new long_term_store};
  out->cfg_ = cfg;
  auto where = "memory store '" + cfg.file.string() + "'";
  if (cfg.file.empty())
    return failure{errc::invalid_config, "memory store: no file given"};
  if (cfg.max_entry_bytes == 0 || cfg.max_per_namespace == 0)
    return failure{errc::invalid_config,
                   where + ": max_entry_bytes and max_per_namespace must "
                           "be > 0"};
  std::error_code ec;
  if (m == mode::read_write && cfg.file.has_parent_path()) {
    std::filesystem::create_directories(cfg.file.parent_path(), ec);
    if (ec)
      return failure{errc::invalid_config,
                     where + ": cannot create its directory: " + ec.message()};
  }
  if (m == mode::read_only && !std::filesystem::exists(cfg.file, ec))
    return failure{errc::not_found, where + " does not exist"};
  try {
    auto flags = m == mode::read_write
                   ? SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE
                   : SQLite::OPEN_READONLY;
    out->db_ = std::make_unique<SQLite::Database>(
      cfg.file.string(), flags, static_cast<int>(cfg.busy_timeout.count()));
    auto& db = *out->db_;
    // Reading the version is the first access to the file: a file that is
    // not a database fails here, with SQLite's reason.
    auto version = db.execAndGet("PRAGMA user_version").getInt();
    // Pages come from a memory map instead of a read() each, and a bigger
    // page cache keeps the FTS index's hot pages: at a million memories
    // the default 2 MB cache spent more time in the kernel than in SQLite.
    db.exec("PRAGMA mmap_size=268435456");
    db.exec("PRAGMA cache_size=-32768");
    if (version > schema_version)
      return failure{errc::invalid_config,
                     where + " has schema version " + std::to_string(version) +
                       ", newer than this troupe (" +
                       std::to_string(schema_version) + ")"};
    if (m == mode::read_write) {
      db.exec("PRAGMA journal_mode=WAL");
      db.exec(cfg.durable ? "PRAGMA synchronous=FULL"
                          : "PRAGMA synchronous=NORMAL");
      // Checkpoint the WAL into the database every ~40 MB instead of 4 MB:
      // fewer, larger copies (and syncs) under a steady write load.
      db.exec("PRAGMA wal_autocheckpoint=10000");
      if (version == 0) {
        // Only takes effect before the first table exists.
        db.exec("PRAGMA auto_vacuum=INCREMENTAL");
        SQLite::Transaction tx{db};
        // One FTS5 table per namespace (fts_<id>, created with it): recall
        // and ranking only ever touch the namespace's own index.
        db.exec(R"sql(
          CREATE TABLE IF NOT EXISTS namespaces(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            count INTEGER NOT NULL DEFAULT 0);
          CREATE TABLE IF NOT EXISTS memories(
            id INTEGER PRIMARY KEY,
            ns_id INTEGER NOT NULL REFERENCES namespaces(id),
            text TEXT NOT NULL,
            thash INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL DEFAULT 0,
            source_task INTEGER NOT NULL DEFAULT 0,
            tags TEXT NOT NULL DEFAULT '[]');
          CREATE INDEX IF NOT EXISTS memories_by_ns ON memories(ns_id, id);
          CREATE INDEX IF NOT EXISTS memories_by_text
            ON memories(ns_id, thash);
          CREATE INDEX IF NOT EXISTS memories_by_expiry
            ON memories(expires_ms) WHERE expires_ms > 0;
          PRAGMA user_version = 1;
        )sql");
        tx.commit();
      }
      out->insert_ = std::make_unique<SQLite::Statement>(
        db, "INSERT INTO memories(ns_id, text, thash, created_ms, "
            "expires_ms, source_task, tags) VALUES (?, ?, ?, ?, ?, ?, ?)");
      out->find_ = std::make_unique<SQLite::Statement>(
        db,
        "SELECT id FROM memories WHERE ns_id = ? AND thash = ? AND text = ?");
      out->refresh_ = std::make_unique<SQLite::Statement>(
        db, "UPDATE memories SET created_ms = ?, expires_ms = ? WHERE id = ?");
    } else if (version == 0) {
      return failure{errc::not_found, where + " holds no memories yet"};
    }
  } catch (const std::exception& e) {
    return failure{errc::invalid_config,
                   "cannot open " + where + ": " + e.what()};
  }
  return out;
}

std::optional<int64_t> long_term_store::namespace_id(const std::string& ns,
                                                     bool create) {
  if (auto i = namespaces_.find(ns); i != namespaces_.end())
    return i->second;
  if (auto i = pending_namespaces_.find(ns); i != pending_namespaces_.end())
    return i->second;
  SQLite::Statement q{*db_, "SELECT id FROM namespaces WHERE name = ?"};
  q.bind(1, ns);
  if (q.executeStep()) {
    auto id = q.getColumn(0).getInt64();
    namespaces_.emplace(ns, id);
    return id;
  }
  if (!create)
    return std::nullopt;
  SQLite::Statement add{*db_, "INSERT INTO namespaces(name) VALUES (?)"};
  add.bind(1, ns);
  add.exec();
  auto id = db_->getLastInsertRowid();
  db_->exec("CREATE VIRTUAL TABLE " + fts_table(id) +
            " USING fts5(text, content='memories', content_rowid='id', "
            "tokenize='porter unicode61 remove_diacritics 2')");
  // Merge index segments in larger steps while writing (compaction runs
  // 'optimize'): less rewriting per insert as the index grows.
  db_->exec("INSERT INTO " + fts_table(id) + "(" + fts_table(id) +
            ", rank) VALUES('automerge', 8)");
  // Cached for good once committed: the caller's transaction may roll
  // back (see `insert`).
  pending_namespaces_.emplace(ns, id);
  return id;
}

long_term_store::ns_statements& long_term_store::statements(int64_t ns_id) {
  auto& slot = ns_statements_[ns_id];
  if (!slot)
    slot = std::make_unique<ns_statements>(*db_, ns_id);
  return *slot;
}

result<bool> long_term_store::check(const record& r) const {
  if (r.ns.empty())
    return failure{errc::invalid_input, "a memory needs a namespace"};
  if (r.text.empty())
    return failure{errc::invalid_input, "cannot store an empty text"};
  if (r.text.size() > cfg_.max_entry_bytes)
    return failure{errc::too_large,
                   "memory text is " + std::to_string(r.text.size()) +
                     " bytes; the limit is " +
                     std::to_string(cfg_.max_entry_bytes)};
  return true;
}

uint64_t
long_term_store::remove(const std::vector<std::pair<int64_t, int64_t>>& ids) {
  SQLite::Statement text{*db_, "SELECT text FROM memories WHERE id = ?"};
  SQLite::Statement del{*db_, "DELETE FROM memories WHERE id = ?"};
  SQLite::Statement count{
    *db_, "UPDATE namespaces SET count = count - 1 WHERE id = ?"};
  uint64_t n = 0;
  for (auto [id, ns_id] : ids) {
    text.reset();
    text.bind(1, id);
    if (!text.executeStep())
      continue;
    auto& st = statements(ns_id);
    st.unindex.reset();
    st.unindex.bind(1, id);
    st.unindex.bind(2, text.getColumn(0).getString());
    st.unindex.exec();
    del.reset();
    del.bind(1, id);
    n += static_cast<uint64_t>(del.exec());
    count.reset();
    count.bind(1, ns_id);
    count.exec();
  }
  return n;
}

uint64_t long_term_store::enforce_cap(int64_t ns_id) {
  // The count is kept with the namespace, so a store within its cap costs
  // one lookup; one over it loses exactly its oldest (smallest ids).
  SQLite::Statement c{*db_, "SELECT count FROM namespaces WHERE id = ?"};
  c.bind(1, ns_id);
  if (!c.executeStep())
    return 0;
  auto count = static_cast<uint64_t>(c.getColumn(0).getInt64());
  if (count <= cfg_.max_per_namespace)
    return 0;
  SQLite::Statement q{*db_, "SELECT id FROM memories WHERE ns_id = ? "
                            "ORDER BY id LIMIT ?"};
  q.bind(1, ns_id);
  q.bind(2, static_cast<int64_t>(count - cfg_.max_per_namespace));
  std::vector<std::pair<int64_t, int64_t>> over;
  while (q.executeStep())
    over.emplace_back(q.getColumn(0).getInt64(), ns_id);
  return remove(over);
}

result<std::vector<uint64_t>>
long_term_store::insert(std::vector<record>& batch) {
  if (!insert_)
    return failure{errc::invalid_input, "the memory store is read-only"};
  for (auto& r : batch)
    if (auto ok = check(r); !ok)
      return ok.error();
  std::vector<uint64_t> ids;
  ids.reserve(batch.size());
  try {
    SQLite::Transaction tx{*db_};
    std::map<int64_t, int64_t> added;
    for (auto& r : batch) {
      if (r.created_ms == 0)
        r.created_ms = now_ms();
      auto ns_id = namespace_id(r.ns, true);
      auto hash = static_cast<int64_t>(fnv1a(r.text));
      // The same fact again in the same namespace refreshes the one stored
      // (its time and expiry) instead of piling up copies.
      auto& f = *find_;
      f.reset();
      f.bind(1, *ns_id);
      f.bind(2, hash);
      f.bind(3, r.text);
      if (f.executeStep()) {
        r.id = static_cast<uint64_t>(f.getColumn(0).getInt64());
        f.reset();
        auto& u = *refresh_;
        u.reset();
        u.bind(1, r.created_ms);
        u.bind(2, r.expires_ms);
        u.bind(3, static_cast<int64_t>(r.id));
        u.exec();
        ids.push_back(r.id);
        continue;
      }
      f.reset();
      auto& q = *insert_;
      q.reset();
      q.bind(1, *ns_id);
      q.bind(2, r.text);
      q.bind(3, hash);
      q.bind(4, r.created_ms);
      q.bind(5, r.expires_ms);
      q.bind(6, static_cast<int64_t>(r.source_task));
      q.bind(7, tags_json(r.tags));
      q.exec();
      auto id = db_->getLastInsertRowid();
      auto& st = statements(*ns_id);
      st.index.reset();
      st.index.bind(1, id);
      st.index.bind(2, r.text);
      st.index.exec();
      r.id = static_cast<uint64_t>(id);
      ids.push_back(r.id);
      ++added[*ns_id];
    }
    SQLite::Statement count{
      *db_, "UPDATE namespaces SET count = count + ? WHERE id = ?"};
    for (auto [ns_id, n] : added) {
      count.reset();
      count.bind(1, n);
      count.bind(2, ns_id);
      count.exec();
      enforce_cap(ns_id);
    }
    tx.commit();
  } catch (const std::exception& e) {
    // Namespaces created in the rolled-back transaction are gone again.
    for (auto& [name, id] : pending_namespaces_)
      ns_statements_.erase(id);
    pending_namespaces_.clear();
    return sql_failure("cannot store memories", e);
  }
  namespaces_.merge(pending_namespaces_);
  return ids;
}

result<std::vector<ranked>>
long_term_store::search(std::string_view ns, std::string_view query,
                        size_t limit, int64_t now) {
  std::vector<ranked> out;
  auto terms = search_terms(query);
  if (terms.empty() || limit == 0)
    return out;
  try {
    auto ns_id = namespace_id(std::string{ns}, false);
    if (!ns_id)
      return out;
    auto& st = statements(*ns_id);
    // Rare terms decide the ranking; common ones (in more than
    // common_term_docs memories) would make BM25 read their whole doclists.
    std::vector<std::string> rare;
    std::vector<std::string> common;
    for (auto& t : terms) {
      st.probe.reset();
      st.probe.bind(1, match_any({t}));
      st.probe.bind(2, static_cast<int64_t>(common_term_docs + 1));
      st.probe.executeStep();
      auto n = static_cast<size_t>(st.probe.getColumn(0).getInt64());
      st.probe.reset();
      if (n > common_term_docs)
        common.push_back(t);
      else if (n > 0)
        rare.push_back(t);
    }
    auto run = [&](SQLite::Statement& q, const std::string& expr,
                   size_t candidates, size_t want) {
      q.reset();
      q.bind(1, expr);
      q.bind(2, static_cast<int64_t>(candidates));
      q.bind(3, now);
      q.bind(4, static_cast<int64_t>(want));
      while (q.executeStep()) {
        auto rec = read_record(q);
        bool dup = std::any_of(out.begin(), out.end(), [&](const ranked& x) {
          return x.rec.id == rec.id;
        });
        if (!dup)
          out.push_back(ranked{std::move(rec), -q.getColumn(7).getDouble()});
      }
      q.reset();
    };
    if (!rare.empty())
      run(st.ranked, match_any(rare), ranked_candidates, limit);
    // Common terms fill up: first memories that have all of them, then any.
    if (out.size() < limit && common.size() > 1)
      run(st.newest, match_all(common), limit * 2, limit);
    if (out.size() < limit && !common.empty())
      run(st.newest, match_any(common), limit * 2, limit);
    if (out.size() > limit)
      out.resize(limit);
  } catch (const std::exception& e) {
    return sql_failure("memory search failed", e);
  }
  return out;
}

result<compaction> long_term_store::compact(int64_t now) {
  if (!insert_)
    return failure{errc::invalid_input, "the memory store is read-only"};
  compaction out;
  try {
    {
      SQLite::Transaction tx{*db_};
      SQLite::Statement expired{*db_, "SELECT id, ns_id FROM memories WHERE "
                                      "expires_ms > 0 AND expires_ms <= ?"};
      expired.bind(1, now);
      std::vector<std::pair<int64_t, int64_t>> gone;
      while (expired.executeStep())
        gone.emplace_back(expired.getColumn(0).getInt64(),
                          expired.getColumn(1).getInt64());
      out.expired_removed = remove(gone);
      std::vector<int64_t> over;
      SQLite::Statement q{*db_, "SELECT id FROM namespaces WHERE count > ?"};
      q.bind(1, static_cast<int64_t>(cfg_.max_per_namespace));
      while (q.executeStep())
        over.push_back(q.getColumn(0).getInt64());
      for (auto ns_id : over)
        out.over_cap_removed += enforce_cap(ns_id);
      tx.commit();
    }
    SQLite::Statement all{*db_, "SELECT id FROM namespaces"};
    std::vector<int64_t> ids;
    while (all.executeStep())
      ids.push_back(all.getColumn(0).getInt64());
    for (auto id : ids)
      db_->exec("INSERT INTO " + fts_table(id) + "(" + fts_table(id) +
                ") VALUES('optimize')");
    db_->exec("PRAGMA incremental_vacuum");
    db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const std::exception& e) {
    return sql_failure("memory compaction failed", e);
  }
  return out;
}

result<store_stats> long_term_store::stats(int64_t now) {
  store_stats out;
  try {
    SQLite::Statement q{*db_, "SELECT name, count FROM namespaces "
                              "WHERE count > 0 ORDER BY name"};
    while (q.executeStep()) {
      auto n = static_cast<uint64_t>(q.getColumn(1).getInt64());
      out.namespaces.emplace_back(q.getColumn(0).getString(), n);
      out.memories += n;
    }
    SQLite::Statement e{*db_, "SELECT count(*) FROM memories WHERE "
                              "expires_ms > 0 AND expires_ms <= ?"};
    e.bind(1, now);
    if (e.executeStep())
      out.expired = static_cast<uint64_t>(e.getColumn(0).getInt64());
  } catch (const std::exception& e) {
    return sql_failure("cannot read memory stats", e);
  }
  std::error_code ec;
  for (auto suffix : {"", "-wal"}) {
    auto size = std::filesystem::file_size(cfg_.file.string() + suffix, ec);
    if (!ec)
      out.file_bytes += size;
  }
  return out;
}

result<uint64_t> long_term_store::export_jsonl(std::ostream& out,
                                               std::optional<std::string> ns) {
  uint64_t n = 0;
  try {
    // Oldest first, as they were stored.
    std::string sql = std::string{"SELECT "} + record_columns +
                      " FROM memories m JOIN namespaces n ON n.id = m.ns_id";
    if (ns)
      sql += " WHERE n.name = ?";
    sql += " ORDER BY m.id";
    SQLite::Statement q{*db_, sql};
    if (ns)
      q.bind(1, *ns);
    while (q.executeStep()) {
      out << dump(to_json(read_record(q))) << '\n';
      ++n;
    }
  } catch (const std::exception& e) {
    return sql_failure("cannot export memories", e);
  }
  if (!out)
    return failure{errc::unspecified, "cannot write the export"};
  return n;
}

result<uint64_t> long_term_store::import_jsonl(std::istream& in,
                                               const text_filter& filter) {
  std::vector<record> batch;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto at = "line " + std::to_string(line_no) + ": ";
    auto parsed = parse_object(line, "the record");
    if (!parsed)
      return failure{errc::invalid_input, at + parsed.error().message};
    auto& j = *parsed;
    // Numbers are read as integers only: nlohmann converts a double out of
    // range (1e300) with undefined behaviour, and an unsigned past INT64_MAX
    // would wrap to a negative time (both fuzz/memory_import).
    constexpr auto int64_max = uint64_t(std::numeric_limits<int64_t>::max());
    constexpr std::pair<const char*, uint64_t> integers[] = {
      {"created_ms", int64_max},
      {"expires_ms", int64_max},
      {"source_task", std::numeric_limits<uint64_t>::max()}};
    for (auto [key, max] : integers) {
      auto it = j.find(key);
      if (it == j.end())
        continue;
      bool ok = it->is_number_unsigned()
                  ? it->get<uint64_t>() <= max
                  : it->is_number_integer() && it->get<int64_t>() >= 0;
      if (!ok)
        return failure{errc::invalid_input,
                       at + "'" + key + "' must be an integer in 0.." +
                         std::to_string(max) + ", got " + dump(*it)};
    }
    record r;
    try {
      r.ns = j.at("namespace").get<std::string>();
      r.text = j.at("text").get<std::string>();
      r.created_ms = j.value("created_ms", int64_t{0});
      r.expires_ms = j.value("expires_ms", int64_t{0});
      r.source_task = j.value("source_task", uint64_t{0});
      r.tags = j.value("tags", std::vector<std::string>{});
    } catch (const std::exception& e) {
      return failure{errc::invalid_input,
                     at + "needs string 'namespace' and 'text' (and numbers "
                          "for the times, strings for the tags): " +
                       e.what()};
    }
    if (filter) {
      auto text = filter(r.text);
      if (!text)
        return failure{text.error().code, at + text.error().message};
      r.text = std::move(*text);
    }
    if (auto ok = check(r); !ok)
      return failure{ok.error().code, at + ok.error().message};
    batch.push_back(std::move(r));
  }
  if (in.bad())
    return failure{errc::unspecified, "cannot read the import"};
  auto ids = insert(batch);
  if (!ids)
    return ids.error();
  return static_cast<uint64_t>(ids->size());
}

} // namespace troupe::memory
