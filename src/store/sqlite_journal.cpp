#include "store/sqlite_journal.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <mutex>

namespace troupe::store {

namespace {

constexpr const char* schema = R"(
  CREATE TABLE IF NOT EXISTS tasks(
    id INTEGER PRIMARY KEY,
    principal TEXT NOT NULL,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    input TEXT NOT NULL,
    idem_key TEXT,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL);
  CREATE UNIQUE INDEX IF NOT EXISTS tasks_idem
    ON tasks(principal, idem_key) WHERE idem_key IS NOT NULL;
  CREATE INDEX IF NOT EXISTS tasks_queued ON tasks(status)
    WHERE status = 'queued';
  CREATE TABLE IF NOT EXISTS steps(
    task_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY(task_id, idx)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS threads(
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    agent TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    summarized INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS thread_messages(
    thread_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY(thread_id, seq)) WITHOUT ROWID;
)";

/// True if `table` has column `column`.
bool has_column(SQLite::Database& db, const std::string& table,
                const std::string& column) {
  SQLite::Statement cols{db, "PRAGMA table_info(" + table + ")"};
  while (cols.executeStep())
    if (cols.getColumn(1).getString() == column)
      return true;
  return false;
}

/// Journals from before threads: their tasks get the thread column; and
/// from before summaries: their threads get the summary columns. The
/// index is a whole one: SQLite uses a partial index only where the query
/// implies its condition, and `thread = ?` does not.
void migrate(SQLite::Database& db) {
  if (!has_column(db, "tasks", "thread"))
    db.exec("ALTER TABLE tasks ADD COLUMN thread TEXT NOT NULL DEFAULT ''");
  if (!has_column(db, "threads", "summary")) {
    db.exec("ALTER TABLE threads ADD COLUMN summary TEXT NOT NULL DEFAULT ''");
    db.exec("ALTER TABLE threads ADD COLUMN summarized INTEGER NOT NULL "
            "DEFAULT 0");
  }
  // Leases, and the turns of a thread's runs: a task from before them has
  // none (expired: the first to claim it takes it).
  if (!has_column(db, "tasks", "fence")) {
    db.exec("ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT ''");
    db.exec("ALTER TABLE tasks ADD COLUMN fence INTEGER NOT NULL DEFAULT 0");
    db.exec("ALTER TABLE tasks ADD COLUMN lease_until INTEGER NOT NULL "
            "DEFAULT 0");
    db.exec("ALTER TABLE tasks ADD COLUMN turn INTEGER NOT NULL DEFAULT 0");
  }
  if (!has_column(db, "tasks", "cancel_requested"))
    db.exec("ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL "
            "DEFAULT 0");
  if (!has_column(db, "threads", "runs"))
    db.exec("ALTER TABLE threads ADD COLUMN runs INTEGER NOT NULL DEFAULT 0");
  db.exec("CREATE INDEX IF NOT EXISTS tasks_by_thread ON tasks(thread, id)");
}

std::unique_ptr<SQLite::Database> connect(const std::filesystem::path& file,
                                          bool durable) {
  auto db = std::make_unique<SQLite::Database>(
    file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
  // Before anything else: a new file gives back the space pruning frees
  // (an incremental vacuum after each round); an older one, made without
  // it, keeps its size and reuses its free pages.
  db->exec("PRAGMA auto_vacuum=INCREMENTAL");
  db->exec("PRAGMA journal_mode=WAL");
  // The log is cut back to 64 MB after a checkpoint: it does not keep the
  // size of its busiest minute.
  db->exec("PRAGMA journal_size_limit=67108864");
  // Deleted and overwritten content is zeroed, not left in free pages.
  db->exec("PRAGMA secure_delete=ON");
  db->exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  return db;
}

journaled_task read_task(SQLite::Statement& q) {
  journaled_task t;
  t.id = static_cast<uint64_t>(q.getColumn(0).getInt64());
  t.principal = q.getColumn(1).getString();
  t.agent = q.getColumn(2).getString();
  t.session = q.getColumn(3).getString();
  t.input = q.getColumn(4).getString();
  t.idempotency_key = q.getColumn(5).isNull() ? "" : q.getColumn(5).getString();
  t.request_hash = q.getColumn(6).getString();
  t.status = q.getColumn(7).getString();
  t.result = q.getColumn(8).getString();
  t.created_ms = q.getColumn(9).getInt64();
  t.updated_ms = q.getColumn(10).getInt64();
  t.thread = q.getColumn(11).getString();
  t.owner = q.getColumn(12).getString();
  t.fence = static_cast<uint64_t>(q.getColumn(13).getInt64());
  t.turn = static_cast<uint64_t>(q.getColumn(14).getInt64());
  t.cancel_requested = q.getColumn(15).getInt() != 0;
  return t;
}

constexpr const char* task_columns =
  "SELECT id, principal, agent, session, input, idem_key, request_hash, "
  "status, result, created_ms, updated_ms, thread, owner, fence, turn, "
  "cancel_requested FROM tasks ";

/// 2: leases (owner, fence, expiry), turns, cancel requests.
constexpr int sqlite_schema_version = 2;

class sqlite_journal final : public journal {
public:
  explicit sqlite_journal(lease_settings lease) : journal(std::move(lease)) {}

  std::filesystem::path file;
  /// Leases (claims, renewals) on a connection of their own: SQLite's
  /// busy wait orders them with the writer's transactions.
  mutable std::mutex lease_mutex;
  std::unique_ptr<SQLite::Database> leaser;
  std::unique_ptr<SQLite::Database> writer;
  /// Reads come from any thread: one connection, one at a time.
  mutable std::mutex read_mutex;
  std::unique_ptr<SQLite::Database> reader;

  ~sqlite_journal() override {
    stop_leases();
    stop_writer();
  }

  const char* backend() const override {
    return "sqlite";
  }

  /// One process per file: a counter from the largest id at open.
  std::atomic<uint64_t> next{1};

  uint64_t next_id() override {
    return next.fetch_add(1);
  }

  using journal::start_writer;

  /// Appends `messages` to thread `thread` (if it still exists).
  void append_turn(const std::string& thread,
                   const std::vector<std::string>& messages) {
    SQLite::Statement next{*writer,
                           "SELECT COALESCE(MAX(seq), 0) FROM thread_messages "
                           "WHERE thread_id = ?"};
    next.bind(1, thread);
    next.executeStep();
    auto seq = next.getColumn(0).getInt64();
    SQLite::Statement exists{*writer, "SELECT 1 FROM threads WHERE id = ?"};
    exists.bind(1, thread);
    if (!exists.executeStep())
      return;
    SQLite::Statement ins{
      *writer, "INSERT INTO thread_messages(thread_id, seq, message) "
               "VALUES(?, ?, ?)"};
    for (auto& m : messages) {
      ins.bind(1, thread);
      ins.bind(2, ++seq);
      ins.bind(3, m);
      ins.exec();
      ins.reset();
    }
    SQLite::Statement touch{*writer,
                            "UPDATE threads SET updated_ms = ? WHERE id = ?"};
    touch.bind(1, now_ms());
    touch.bind(2, thread);
    touch.exec();
  }

  /// Creates or removes a thread, through a savepoint (a duplicate id
  /// fails alone).
  result<bool> apply(const thread_op& t) {
    auto& th = t.thread;
    writer->exec("SAVEPOINT thread");
    try {
      if (t.what == thread_op::summarize) {
        SQLite::Statement up{*writer, "UPDATE threads SET summary = ?, "
                                      "summarized = ? WHERE id = ?"};
        up.bind(1, th.summary);
        up.bind(2, static_cast<int64_t>(th.summarized));
        up.bind(3, th.id);
        up.exec();
      } else if (t.what == thread_op::remove) {
        SQLite::Statement del{*writer, "DELETE FROM threads WHERE id = ?"};
        del.bind(1, th.id);
        del.exec();
        SQLite::Statement msgs{
          *writer, "DELETE FROM thread_messages WHERE thread_id = ?"};
        msgs.bind(1, th.id);
        msgs.exec();
      } else {
        SQLite::Statement ins{*writer,
                              "INSERT INTO threads(id, principal, agent, "
                              "metadata, created_ms, updated_ms) "
                              "VALUES(?, ?, ?, ?, ?, ?)"};
        ins.bind(1, th.id);
        ins.bind(2, th.principal);
        ins.bind(3, th.agent);
        ins.bind(4, th.metadata);
        ins.bind(5, th.created_ms);
        ins.bind(6, th.created_ms);
        ins.exec();
      }
      writer->exec("RELEASE thread");
      return true;
    } catch (const SQLite::Exception& e) {
      writer->exec("ROLLBACK TO thread");
      writer->exec("RELEASE thread");
      return failure{e.getErrorCode() == SQLITE_CONSTRAINT ? errc::invalid_input
                                                           : errc::unspecified,
                     std::string{"the journal refused the thread: "} +
                       e.what()};
    }
  }

  /// One transaction for the batch; an accept that fails (duplicate
  /// Idempotency-Key) fails alone, through a savepoint.
  std::vector<std::function<void()>>
  commit(std::deque<journal_op>& batch) override {
    // What became of each op; its callback is made only once the
    // transaction committed (a failed one leaves every op as it was, for
    // `failed`).
    enum class fate { stored, refused, fenced };
    std::vector<fate> fates(batch.size(), fate::stored);
    std::vector<failure> why(batch.size());
    std::vector<result<run_place>> places(batch.size(), run_place{});
    try {
      SQLite::Transaction tx{*writer};
      SQLite::Statement ins{*writer, insert_task};
      // A write under a fence (a lease token) is stored only while the
      // task's fence is still that one.
      SQLite::Statement step{
        *writer,
        "INSERT OR REPLACE INTO steps(task_id, idx, record) SELECT ?1, ?2, "
        "?3 WHERE ?4 = 0 OR EXISTS (SELECT 1 FROM tasks WHERE id = ?1 AND "
        "fence = ?4)"};
      SQLite::Statement fin{
        // The input is kept only to resume the task: an ended task's goes
        // (with secure_delete, its bytes too).
        *writer, "UPDATE tasks SET status = ?, result = ?, updated_ms = ?, "
                 "input = '' WHERE id = ?4 AND (?5 = 0 OR fence = ?5)"};
      auto lease_until = now_ms() + lease_.lease_ms;
      for (size_t i = 0; i < batch.size(); ++i) {
        auto& o = batch[i];
        if (auto* r = std::get_if<run_op>(&o)) {
          places[i] = accept_run(*r, lease_until);
        } else if (auto* a = std::get_if<accept_op>(&o)) {
          writer->exec("SAVEPOINT accept");
          try {
            bind_task(ins, a->task, lease_until, 0);
            ins.exec();
            ins.reset();
            writer->exec("RELEASE accept");
          } catch (const SQLite::Exception& e) {
            // reset() would throw the step's error again.
            ins.tryReset();
            writer->exec("ROLLBACK TO accept");
            writer->exec("RELEASE accept");
            fates[i] = fate::refused;
            why[i] = failure{
              e.getErrorCode() == SQLITE_CONSTRAINT ? errc::invalid_input
                                                    : errc::unspecified,
              std::string{"the journal refused the task: "} + e.what()};
          }
        } else if (auto* s = std::get_if<step_op>(&o)) {
          step.bind(1, static_cast<int64_t>(s->id));
          step.bind(2, static_cast<int64_t>(s->index));
          step.bind(3, s->record);
          step.bind(4, static_cast<int64_t>(s->fence));
          if (step.exec() == 0)
            fates[i] = fate::fenced;
          step.reset();
        } else if (auto* f = std::get_if<finish_op>(&o)) {
          fin.bind(1, f->status);
          fin.bind(2, f->result);
          fin.bind(3, f->ended_ms);
          fin.bind(4, static_cast<int64_t>(f->id));
          fin.bind(5, static_cast<int64_t>(f->fence));
          auto n = fin.exec();
          fin.reset();
          if (f->fence != 0 && n == 0) {
            fates[i] = fate::fenced;
            continue;
          }
          if (!f->thread.empty() && !f->messages.empty())
            append_turn(f->thread, f->messages);
        } else if (auto* t = std::get_if<thread_op>(&o)) {
          if (auto ok = apply(*t); !ok) {
            fates[i] = fate::refused;
            why[i] = ok.error();
          }
        }
      }
      tx.commit();
    } catch (const std::exception& e) {
      // The disk is full or gone: nothing of the batch is on disk, and
      // every waiting acknowledgement says so.
      return failed(batch, std::string{"the task journal could not commit: "} +
                             e.what());
    }
    std::vector<std::function<void()>> after;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& o = batch[i];
      if (auto* r = std::get_if<run_op>(&o)) {
        if (r->done)
          after.push_back(
            [done = std::move(r->done), p = places[i]] { done(p); });
      } else if (fates[i] == fate::fenced) {
        auto id = std::holds_alternative<step_op>(o)
                    ? std::get<step_op>(o).id
                    : std::get<finish_op>(o).id;
        after.push_back(fenced(id));
      } else if (fates[i] == fate::refused) {
        auto tell = [&](auto& op) {
          if (op.done)
            after.push_back(
              [done = std::move(op.done), f = why[i]] { done(f); });
        };
        if (auto* a = std::get_if<accept_op>(&o))
          tell(*a);
        else if (auto* t = std::get_if<thread_op>(&o))
          tell(*t);
      } else {
        after.push_back(stored(o));
      }
    }
    return after;
  }

  static constexpr const char* insert_task =
    "INSERT INTO tasks(id, principal, agent, session, input, idem_key, "
    "request_hash, status, created_ms, updated_ms, thread, owner, fence, "
    "lease_until, turn) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)";

  /// Binds `t` to `insert_task`: owned by this replica (unless it names
  /// another) under its fence (1 if none) until `lease_until`.
  void bind_task(SQLite::Statement& ins, const journaled_task& t,
                 int64_t lease_until, uint64_t turn) const {
    ins.bind(1, static_cast<int64_t>(t.id));
    ins.bind(2, t.principal);
    ins.bind(3, t.agent);
    ins.bind(4, t.session);
    ins.bind(5, t.input);
    if (t.idempotency_key.empty())
      ins.bind(6);
    else
      ins.bind(6, t.idempotency_key);
    ins.bind(7, t.request_hash);
    ins.bind(8, t.created_ms);
    ins.bind(9, t.created_ms);
    ins.bind(10, t.thread);
    ins.bind(11, t.owner.empty() ? lease_.owner : t.owner);
    ins.bind(12, static_cast<int64_t>(std::max<uint64_t>(t.fence, 1)));
    ins.bind(13, lease_until);
    ins.bind(14, static_cast<int64_t>(turn));
  }

  /// Journals a thread's run with its turn, through a savepoint (a busy
  /// or missing thread fails it alone); returns its place.
  result<run_place> accept_run(const run_op& r, int64_t lease_until) {
    auto& t = r.task;
    auto tell = [](result<run_place> x) { return x; };
    writer->exec("SAVEPOINT run");
    try {
      SQLite::Statement open{*writer, "SELECT COUNT(*) FROM tasks WHERE "
                                      "thread = ? AND status = 'queued'"};
      open.bind(1, t.thread);
      open.executeStep();
      run_place place;
      place.ahead = static_cast<uint64_t>(open.getColumn(0).getInt64());
      auto refuse = [&](errc code, std::string why) {
        writer->exec("RELEASE run");
        return tell(failure{code, std::move(why)});
      };
      if (r.exclusive && place.ahead > 0)
        return refuse(errc::thread_busy,
                      "thread '" + t.thread + "' has a run going");
      SQLite::Statement bump{*writer,
                             "UPDATE threads SET runs = runs + 1 WHERE id = ?"};
      bump.bind(1, t.thread);
      if (bump.exec() == 0)
        return refuse(errc::not_found, "no thread '" + t.thread + "'");
      SQLite::Statement turn{*writer, "SELECT runs FROM threads WHERE id = ?"};
      turn.bind(1, t.thread);
      turn.executeStep();
      place.turn = static_cast<uint64_t>(turn.getColumn(0).getInt64());
      SQLite::Statement ins{*writer, insert_task};
      bind_task(ins, t, lease_until, place.turn);
      ins.exec();
      writer->exec("RELEASE run");
      return tell(place);
    } catch (const SQLite::Exception& e) {
      writer->exec("ROLLBACK TO run");
      writer->exec("RELEASE run");
      return tell(
        failure{e.getErrorCode() == SQLITE_CONSTRAINT ? errc::invalid_input
                                                      : errc::unspecified,
                std::string{"the journal refused the run: "} + e.what()});
    }
  }

  result<std::vector<journaled_task>> claim(bool own, size_t limit) override {
    std::lock_guard guard{lease_mutex};
    auto& db = *leaser;
    std::vector<journaled_task> out;
    try {
      SQLite::Transaction tx{db, SQLite::TransactionBehavior::IMMEDIATE};
      auto now = now_ms();
      SQLite::Statement q{
        db, std::string{task_columns} +
              "WHERE status = 'queued' AND ((lease_until < ?1 AND owner <> "
              "?2) OR (?3 AND owner = ?2)) ORDER BY id LIMIT ?4"};
      q.bind(1, now);
      q.bind(2, lease_.owner);
      q.bind(3, own ? 1 : 0);
      q.bind(4, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
      while (q.executeStep())
        out.push_back(read_task(q));
      SQLite::Statement take{db, "UPDATE tasks SET owner = ?, fence = fence "
                                 "+ 1, lease_until = ? WHERE id = ?"};
      for (auto& t : out) {
        take.bind(1, lease_.owner);
        take.bind(2, now + lease_.lease_ms);
        take.bind(3, static_cast<int64_t>(t.id));
        take.exec();
        take.reset();
        t.owner = lease_.owner;
        ++t.fence;
        SQLite::Statement s{
          db, "SELECT record FROM steps WHERE task_id = ? ORDER BY idx"};
        s.bind(1, static_cast<int64_t>(t.id));
        while (s.executeStep())
          t.steps.push_back(s.getColumn(0).getString());
      }
      tx.commit();
    } catch (const std::exception& e) {
      return failure{errc::role_down,
                     std::string{"the journal could not claim tasks: "} +
                       e.what()};
    }
    return out;
  }

  /// Sets the lease end of every unfinished task of this replica.
  result<uint64_t> set_leases(int64_t until) {
    std::lock_guard guard{lease_mutex};
    try {
      SQLite::Statement up{*leaser, "UPDATE tasks SET lease_until = ? WHERE "
                                    "owner = ? AND status = 'queued'"};
      up.bind(1, until);
      up.bind(2, lease_.owner);
      return static_cast<uint64_t>(up.exec());
    } catch (const std::exception& e) {
      return failure{errc::role_down,
                     std::string{"the journal could not renew leases: "} +
                       e.what()};
    }
  }

  result<bool> request_cancel(uint64_t id) override {
    std::lock_guard guard{lease_mutex};
    try {
      SQLite::Statement up{*leaser, "UPDATE tasks SET cancel_requested = 1 "
                                    "WHERE id = ? AND status = 'queued'"};
      up.bind(1, static_cast<int64_t>(id));
      return up.exec() > 0;
    } catch (const std::exception& e) {
      return failure{errc::role_down,
                     std::string{"the journal could not ask for the cancel: "} +
                       e.what()};
    }
  }

  result<uint64_t> prune(int64_t cutoff_ms, uint64_t below_id,
                         uint32_t batch) override {
    std::lock_guard guard{lease_mutex};
    auto& db = *leaser;
    try {
      SQLite::Transaction tx{db, SQLite::TransactionBehavior::IMMEDIATE};
      SQLite::Statement q{
        db, "SELECT id FROM tasks WHERE status <> 'queued' AND (updated_ms "
            "< ?1 OR id <= ?2) AND (thread = '' OR NOT EXISTS (SELECT 1 "
            "FROM threads WHERE threads.id = tasks.thread)) ORDER BY id "
            "LIMIT ?3"};
      q.bind(1, cutoff_ms);
      q.bind(2, static_cast<int64_t>(below_id));
      q.bind(3, static_cast<int64_t>(batch));
      std::vector<int64_t> ids;
      while (q.executeStep())
        ids.push_back(q.getColumn(0).getInt64());
      SQLite::Statement steps{db, "DELETE FROM steps WHERE task_id = ?"};
      SQLite::Statement tasks{db, "DELETE FROM tasks WHERE id = ?"};
      for (auto id : ids) {
        steps.bind(1, id);
        steps.exec();
        steps.reset();
        tasks.bind(1, id);
        tasks.exec();
        tasks.reset();
      }
      tx.commit();
      return static_cast<uint64_t>(ids.size());
    } catch (const std::exception& e) {
      return failure{errc::role_down,
                     std::string{"the journal could not prune: "} + e.what()};
    }
  }

  result<uint64_t> count_bound(uint64_t keep) const override {
    std::lock_guard guard{read_mutex};
    try {
      SQLite::Statement q{
        *reader, "SELECT id FROM tasks WHERE status <> 'queued' AND (thread "
                 "= '' OR NOT EXISTS (SELECT 1 FROM threads WHERE threads.id "
                 "= tasks.thread)) ORDER BY id DESC LIMIT 1 OFFSET ?"};
      q.bind(1, static_cast<int64_t>(std::min<uint64_t>(keep, INT64_MAX)));
      return q.executeStep() ? static_cast<uint64_t>(q.getColumn(0).getInt64())
                             : uint64_t{0};
    } catch (const std::exception& e) {
      return failure{errc::role_down,
                     std::string{"the journal could not count: "} + e.what()};
    }
  }

  void compact() override {
    std::lock_guard guard{lease_mutex};
    try {
      // Frees pages at the file's end (a no-op for a file from before
      // incremental vacuum: its free pages are reused instead), then
      // checkpoints what it can without waiting for anyone.
      leaser->exec("PRAGMA incremental_vacuum");
      leaser->exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (const std::exception&) {
    }
  }

  result<info_type> info() const override {
    std::lock_guard guard{read_mutex};
    try {
      info_type out;
      out.backend = "sqlite";
      out.where = file.string();
      out.schema_version = reader->execAndGet("PRAGMA user_version").getInt();
      out.unfinished = static_cast<uint64_t>(
        reader->execAndGet("SELECT COUNT(*) FROM tasks WHERE status = 'queued'")
          .getInt64());
      out.finished =
        static_cast<uint64_t>(
          reader->execAndGet("SELECT COUNT(*) FROM tasks").getInt64()) -
        out.unfinished;
      out.steps = static_cast<uint64_t>(
        reader->execAndGet("SELECT COUNT(*) FROM steps").getInt64());
      out.threads = static_cast<uint64_t>(
        reader->execAndGet("SELECT COUNT(*) FROM threads").getInt64());
      std::error_code ec;
      out.bytes = 0;
      for (auto suffix : {"", "-wal"}) {
        auto n = std::filesystem::file_size(file.string() + suffix, ec);
        if (!ec)
          out.bytes += static_cast<int64_t>(n);
      }
      return out;
    } catch (const std::exception& e) {
      return failure{errc::role_down,
                     std::string{"the journal could not be read: "} + e.what()};
    }
  }

  result<uint64_t> renew() override {
    return set_leases(now_ms() + lease_.lease_ms);
  }

  void release() override {
    (void)set_leases(0);
  }

  result<uint64_t> runs_ahead(const std::string& thread,
                              uint64_t turn) const override {
    std::lock_guard guard{read_mutex};
    SQLite::Statement q{*reader,
                        "SELECT COUNT(*) FROM tasks WHERE thread = ? AND "
                        "status = 'queued' AND turn < ?"};
    q.bind(1, thread);
    q.bind(2, static_cast<int64_t>(turn));
    q.executeStep();
    return static_cast<uint64_t>(q.getColumn(0).getInt64());
  }

  std::optional<journaled_thread>
  get_thread(const std::string& id) const override {
    std::lock_guard guard{read_mutex};
    auto& db = *reader;
    SQLite::Statement q{db,
                        "SELECT id, principal, agent, metadata, created_ms, "
                        "updated_ms, summary, summarized FROM threads "
                        "WHERE id = ?"};
    q.bind(1, id);
    if (!q.executeStep())
      return std::nullopt;
    journaled_thread t;
    t.id = q.getColumn(0).getString();
    t.principal = q.getColumn(1).getString();
    t.agent = q.getColumn(2).getString();
    t.metadata = q.getColumn(3).getString();
    t.created_ms = q.getColumn(4).getInt64();
    t.updated_ms = q.getColumn(5).getInt64();
    t.summary = q.getColumn(6).getString();
    t.summarized = static_cast<uint64_t>(q.getColumn(7).getInt64());
    SQLite::Statement m{db, "SELECT message FROM thread_messages "
                            "WHERE thread_id = ? ORDER BY seq"};
    m.bind(1, id);
    while (m.executeStep())
      t.messages.push_back(m.getColumn(0).getString());
    SQLite::Statement r{db, "SELECT id, status FROM tasks WHERE thread = ? "
                            "ORDER BY id"};
    r.bind(1, id);
    while (r.executeStep())
      t.runs.emplace_back(static_cast<uint64_t>(r.getColumn(0).getInt64()),
                          r.getColumn(1).getString());
    return t;
  }

  std::optional<journaled_task> get(uint64_t id) const override {
    std::lock_guard guard{read_mutex};
    auto& db = *reader;
    SQLite::Statement q{db, std::string{task_columns} + "WHERE id = ?"};
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep())
      return std::nullopt;
    auto t = read_task(q);
    SQLite::Statement s{
      db, "SELECT record FROM steps WHERE task_id = ? ORDER BY idx"};
    s.bind(1, static_cast<int64_t>(id));
    while (s.executeStep())
      t.steps.push_back(s.getColumn(0).getString());
    return t;
  }

  std::optional<journaled_task>
  find_idempotent(const std::string& principal,
                  const std::string& key) const override {
    std::lock_guard guard{read_mutex};
    SQLite::Statement q{*reader, std::string{task_columns} +
                                   "WHERE principal = ? AND idem_key = ?"};
    q.bind(1, principal);
    q.bind(2, key);
    if (!q.executeStep())
      return std::nullopt;
    return read_task(q);
  }

  std::vector<journaled_task> unfinished() const override {
    std::lock_guard guard{read_mutex};
    SQLite::Statement q{*reader, std::string{task_columns} +
                                   "WHERE status = 'queued' ORDER BY id"};
    std::vector<journaled_task> out;
    while (q.executeStep())
      out.push_back(read_task(q));
    for (auto& t : out) {
      SQLite::Statement s{
        *reader, "SELECT record FROM steps WHERE task_id = ? ORDER BY idx"};
      s.bind(1, static_cast<int64_t>(t.id));
      while (s.executeStep())
        t.steps.push_back(s.getColumn(0).getString());
    }
    return out;
  }

  uint64_t max_id() const override {
    std::lock_guard guard{read_mutex};
    return static_cast<uint64_t>(
      reader->execAndGet("SELECT COALESCE(MAX(id), 0) FROM tasks").getInt64());
  }
};

} // namespace

result<std::unique_ptr<journal>>
open_sqlite_journal(const std::filesystem::path& file, bool durable,
                    lease_settings lease) {
  auto j = std::make_unique<sqlite_journal>(std::move(lease));
  j->file = file;
  try {
    if (file.has_parent_path())
      std::filesystem::create_directories(file.parent_path());
    j->writer = connect(file, durable);
    // A journal's version is SQLite's user_version (0: before versions).
    auto version = j->writer->execAndGet("PRAGMA user_version").getInt();
    if (version > sqlite_schema_version)
      return failure{errc::invalid_config,
                     "the task journal '" + file.string() +
                       "' has schema version " + std::to_string(version) +
                       ", newer than this troupe's (" +
                       std::to_string(sqlite_schema_version) +
                       "): run a troupe at least as new as the one that "
                       "wrote it"};
    j->writer->exec(schema);
    migrate(*j->writer);
    j->writer->exec("PRAGMA user_version=" +
                    std::to_string(sqlite_schema_version));
    j->reader = connect(file, durable);
    j->leaser = connect(file, durable);
  } catch (const std::exception& e) {
    return failure{errc::invalid_config, "cannot open the task journal '" +
                                           file.string() + "': " + e.what()};
  }
  j->next = j->max_id() + 1;
  j->start_writer();
  return std::unique_ptr<journal>{std::move(j)};
}

} // namespace troupe::store
