#include "memory/long_term.hpp"

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

/// The FTS token that stands for a namespace: a hash, so any namespace text
/// becomes one plain token.
std::string ns_token(std::string_view ns) {
  auto h = fnv1a(ns);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "ns";
  for (int i = 15; i >= 0; --i)
    out += hex[(h >> (i * 4)) & 0xF];
  return out;
}

failure sql_failure(const std::string& what, const std::exception& e) {
  return failure{errc::unspecified, what + ": " + e.what()};
}

std::string tags_json(const std::vector<std::string>& tags) {
  return dump(json(tags));
}

std::vector<std::string> tags_from(const std::string& text) {
  std::vector<std::string> out;
  auto j = json::parse(text, nullptr, false);
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

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::optional<std::string> match_expression(std::string_view ns,
                                            std::string_view text) {
  // The same words short-term recall uses (stop words dropped), at most 16.
  auto terms = keywords(text);
  if (terms.size() > 16)
    terms.resize(16);
  if (terms.empty())
    return std::nullopt;
  // Each term is an FTS5 string: inside double quotes nothing is syntax
  // (a quote would be doubled, but words hold none).
  std::string out = "nstok : \"" + ns_token(ns) + "\" AND text : (";
  for (size_t i = 0; i < terms.size(); ++i) {
    if (i > 0)
      out += " OR ";
    out += "\"" + terms[i] + "\"";
  }
  out += ")";
  return out;
}

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
    if (version > schema_version)
      return failure{errc::invalid_config,
                     where + " has schema version " + std::to_string(version) +
                       ", newer than this troupe (" +
                       std::to_string(schema_version) + ")"};
    if (m == mode::read_write) {
      db.exec("PRAGMA journal_mode=WAL");
      db.exec(cfg.durable ? "PRAGMA synchronous=FULL"
                          : "PRAGMA synchronous=NORMAL");
      if (version == 0) {
        // Only takes effect before the first table exists.
        db.exec("PRAGMA auto_vacuum=INCREMENTAL");
        SQLite::Transaction tx{db};
        db.exec(R"sql(
          CREATE TABLE IF NOT EXISTS memories(
            id INTEGER PRIMARY KEY,
            ns TEXT NOT NULL,
            nstok TEXT NOT NULL,
            text TEXT NOT NULL,
            thash INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL DEFAULT 0,
            source_task INTEGER NOT NULL DEFAULT 0,
            tags TEXT NOT NULL DEFAULT '[]');
          CREATE INDEX IF NOT EXISTS memories_by_ns ON memories(ns, id);
          CREATE INDEX IF NOT EXISTS memories_by_text
            ON memories(ns, thash);
          CREATE INDEX IF NOT EXISTS memories_by_expiry
            ON memories(expires_ms) WHERE expires_ms > 0;
          CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
            nstok, text, content='memories', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2');
          INSERT INTO memories_fts(memories_fts, rank)
            VALUES('rank', 'bm25(0.0, 1.0)');
          CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories
          BEGIN
            INSERT INTO memories_fts(rowid, nstok, text)
              VALUES (new.id, new.nstok, new.text);
          END;
          CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories
          BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, nstok, text)
              VALUES ('delete', old.id, old.nstok, old.text);
          END;
          PRAGMA user_version = 1;
        )sql");
        tx.commit();
      }
      out->insert_ = std::make_unique<SQLite::Statement>(
        db, "INSERT INTO memories(ns, nstok, text, thash, created_ms, "
            "expires_ms, source_task, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      out->find_ = std::make_unique<SQLite::Statement>(
        db, "SELECT id FROM memories WHERE ns = ? AND thash = ? AND text = ?");
      out->refresh_ = std::make_unique<SQLite::Statement>(
        db, "UPDATE memories SET created_ms = ?, expires_ms = ? WHERE id = ?");
    } else if (version == 0) {
      return failure{errc::not_found, where + " holds no memories yet"};
    }
    out->search_ = std::make_unique<SQLite::Statement>(db, R"sql(
      SELECT m.id, m.ns, m.text, m.created_ms, m.expires_ms, m.source_task,
             m.tags, f.rank
      FROM (SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH ?1
            ORDER BY rank LIMIT ?2) AS f
      JOIN memories m ON m.id = f.rowid
      WHERE m.ns = ?3 AND (m.expires_ms = 0 OR m.expires_ms > ?4)
      ORDER BY f.rank LIMIT ?5)sql");
  } catch (const std::exception& e) {
    return failure{errc::invalid_config,
                   "cannot open " + where + ": " + e.what()};
  }
  return out;
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

result<uint64_t> long_term_store::enforce_cap(const std::string& ns) {
  SQLite::Statement q{*db_, R"sql(
    DELETE FROM memories WHERE ns = ?1 AND id <= (
      SELECT id FROM memories WHERE ns = ?1 ORDER BY id DESC
      LIMIT 1 OFFSET ?2))sql"};
  q.bind(1, ns);
  q.bind(2, static_cast<int64_t>(cfg_.max_per_namespace));
  return static_cast<uint64_t>(q.exec());
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
    std::set<std::string> touched;
    for (auto& r : batch) {
      if (r.created_ms == 0)
        r.created_ms = now_ms();
      auto hash = static_cast<int64_t>(fnv1a(r.text));
      // The same fact again in the same namespace refreshes the one stored
      // (its time and expiry) instead of piling up copies.
      auto& f = *find_;
      f.reset();
      f.bind(1, r.ns);
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
      q.bind(1, r.ns);
      q.bind(2, ns_token(r.ns));
      q.bind(3, r.text);
      q.bind(4, hash);
      q.bind(5, r.created_ms);
      q.bind(6, r.expires_ms);
      q.bind(7, static_cast<int64_t>(r.source_task));
      q.bind(8, tags_json(r.tags));
      q.exec();
      r.id = static_cast<uint64_t>(db_->getLastInsertRowid());
      ids.push_back(r.id);
      touched.insert(r.ns);
    }
    for (auto& ns : touched)
      enforce_cap(ns);
    tx.commit();
  } catch (const std::exception& e) {
    return sql_failure("cannot store memories", e);
  }
  return ids;
}

result<std::vector<ranked>>
long_term_store::search(std::string_view ns, std::string_view query,
                        size_t limit, int64_t now) {
  std::vector<ranked> out;
  auto expr = match_expression(ns, query);
  if (!expr || limit == 0)
    return out;
  try {
    auto& q = *search_;
    q.reset();
    q.bind(1, *expr);
    // Fetch a few more than asked: expired entries and (rare) namespace
    // hash collisions are filtered after ranking.
    q.bind(2, static_cast<int64_t>(limit * 2 + 8));
    q.bind(3, std::string{ns});
    q.bind(4, now);
    q.bind(5, static_cast<int64_t>(limit));
    while (q.executeStep())
      out.push_back(ranked{read_record(q), -q.getColumn(7).getDouble()});
    q.reset();
  } catch (const std::exception& e) {
    search_->reset();
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
      SQLite::Statement expired{
        *db_, "DELETE FROM memories WHERE expires_ms > 0 AND expires_ms <= ?"};
      expired.bind(1, now);
      out.expired_removed = static_cast<uint64_t>(expired.exec());
      std::vector<std::string> over;
      SQLite::Statement q{*db_, "SELECT ns FROM memories GROUP BY ns "
                                "HAVING count(*) > ?"};
      q.bind(1, static_cast<int64_t>(cfg_.max_per_namespace));
      while (q.executeStep())
        over.push_back(q.getColumn(0).getString());
      for (auto& ns : over)
        out.over_cap_removed += *enforce_cap(ns);
      tx.commit();
    }
    db_->exec("INSERT INTO memories_fts(memories_fts) VALUES('optimize')");
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
    SQLite::Statement q{*db_, "SELECT ns, count(*) FROM memories GROUP BY ns "
                              "ORDER BY ns"};
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
    std::string sql = "SELECT id, ns, text, created_ms, expires_ms, "
                      "source_task, tags FROM memories";
    if (ns)
      sql += " WHERE ns = ?";
    sql += " ORDER BY id";
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

result<uint64_t> long_term_store::import_jsonl(std::istream& in) {
  std::vector<record> batch;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto at = "line " + std::to_string(line_no) + ": ";
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object())
      return failure{errc::invalid_input, at + "not a JSON object"};
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
