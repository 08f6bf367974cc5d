#include "store/postgres_journal.hpp"

#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "store/hex.hpp"

namespace troupe::store {

namespace {

constexpr const char* schema = R"(
  CREATE TABLE IF NOT EXISTS troupe_schema(
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS tasks(
    id BIGINT PRIMARY KEY,
    principal TEXT NOT NULL,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    input BYTEA NOT NULL,
    idem_key TEXT,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    thread TEXT NOT NULL DEFAULT '');
  CREATE UNIQUE INDEX IF NOT EXISTS tasks_idem
    ON tasks(principal, idem_key) WHERE idem_key IS NOT NULL;
  CREATE INDEX IF NOT EXISTS tasks_queued ON tasks(status)
    WHERE status = 'queued';
  CREATE INDEX IF NOT EXISTS tasks_by_thread ON tasks(thread, id);
  CREATE TABLE IF NOT EXISTS steps(
    task_id BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY(task_id, idx));
  CREATE TABLE IF NOT EXISTS threads(
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    agent TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    summary BYTEA NOT NULL DEFAULT '',
    summarized BIGINT NOT NULL DEFAULT 0);
  CREATE SEQUENCE IF NOT EXISTS task_id_blocks INCREMENT BY 1024;
  CREATE TABLE IF NOT EXISTS thread_messages(
    thread_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY(thread_id, seq));
)";

/// Any number: it only has to be the same for every replica.
constexpr const char* schema_lock = "SELECT pg_advisory_lock(735318)";
constexpr const char* schema_unlock = "SELECT pg_advisory_unlock(735318)";

constexpr const char* task_columns =
  "SELECT id, principal, agent, session, input, idem_key, request_hash, "
  "status, result, created_ms, updated_ms, thread FROM tasks ";

journaled_task read_task(const pg_rows& q, size_t row) {
  journaled_task t;
  t.id = static_cast<uint64_t>(q.integer(row, 0));
  t.principal = q.text(row, 1);
  t.agent = q.text(row, 2);
  t.session = q.text(row, 3);
  t.input = q.bytes(row, 4);
  t.idempotency_key = q.is_null(row, 5) ? "" : std::string{q.text(row, 5)};
  t.request_hash = q.text(row, 6);
  t.status = q.text(row, 7);
  t.result = q.text(row, 8);
  t.created_ms = q.integer(row, 9);
  t.updated_ms = q.integer(row, 10);
  t.thread = q.text(row, 11);
  return t;
}

using statements = std::vector<std::pair<std::string, pg_params>>;

int64_t as_int(uint64_t x) {
  return static_cast<int64_t>(x);
}


class postgres_journal final : public journal {
public:
  explicit postgres_journal(std::shared_ptr<pg_pool> pool)
    : pool_(std::move(pool)) {}

  ~postgres_journal() override {
    stop_writer();
  }

  const char* backend() const override {
    return "postgres";
  }

  uint64_t next_id() override {
    // Ids come in blocks of 1,024 from a sequence every replica shares:
    // one round trip per block.
    std::lock_guard guard{id_mutex_};
    if (next_ == 0 || next_ > block_end_) {
      auto rows = read({{"SELECT nextval('task_id_blocks')", {}}});
      if (!rows)
        return 0;
      next_ = static_cast<uint64_t>((*rows)[0].integer(0, 0));
      block_end_ = next_ + id_block - 1;
    }
    return next_++;
  }

  using journal::start_writer;

  std::vector<std::function<void()>>
  commit(std::deque<journal_op>& batch) override {
    // One transaction, one round trip, and one statement per kind of write
    // whatever the batch's size: BEGIN; every accept in one INSERT, every
    // step in one upsert, every end in one UPDATE (each over arrays);
    // then the turns and thread changes, one by one, in queue order;
    // COMMIT. A task's steps come before its end in the queue, and its
    // accept was acknowledged before either, so the grouping keeps each
    // task's order. Where a write may be refused alone (a duplicate
    // Idempotency-Key, a thread id taken) its statement skips it instead
    // of failing, and the rows say which.
    statements q;
    q.emplace_back("BEGIN", pg_params{});
    std::vector<std::string> a_id, a_principal, a_agent, a_session, a_input,
      a_key, a_hash, a_created, a_thread;
    /// (task, index) -> the latest record: a later one replaces it.
    std::map<std::pair<uint64_t, uint64_t>, const std::string*> steps;
    std::vector<std::string> f_id, f_status, f_result;
    statements after_bulk;
    /// The statement (in `after_bulk`) deciding a thread creation.
    std::vector<size_t> decides(batch.size(), 0);
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& o = batch[i];
      if (auto* a = std::get_if<accept_op>(&o)) {
        auto& t = a->task;
        a_id.push_back(std::to_string(t.id));
        a_principal.push_back(t.principal);
        a_agent.push_back(t.agent);
        a_session.push_back(t.session);
        a_input.push_back(hex(t.input));
        a_key.push_back(t.idempotency_key);
        a_hash.push_back(t.request_hash);
        a_created.push_back(std::to_string(t.created_ms));
        a_thread.push_back(t.thread);
      } else if (auto* s = std::get_if<step_op>(&o)) {
        steps[{s->id, s->index}] = &s->record;
      } else if (auto* f = std::get_if<finish_op>(&o)) {
        f_id.push_back(std::to_string(f->id));
        f_status.push_back(f->status);
        f_result.push_back(f->result);
        if (!f->thread.empty() && !f->messages.empty())
          append_turn(after_bulk, f->thread, f->messages);
      } else if (auto* t = std::get_if<thread_op>(&o)) {
        auto& th = t->thread;
        if (t->what == thread_op::create) {
          decides[i] = after_bulk.size();
          after_bulk.emplace_back(
            "INSERT INTO threads(id, principal, agent, metadata, "
            "created_ms, updated_ms) VALUES($1, $2, $3, $4, $5, "
            "$5) ON CONFLICT DO NOTHING",
            pg_params{}
              .text(th.id)
              .text(th.principal)
              .text(th.agent)
              .text(th.metadata)
              .integer(th.created_ms));
        } else if (t->what == thread_op::remove) {
          after_bulk.emplace_back("DELETE FROM threads WHERE id = $1",
                                  pg_params{}.text(th.id));
          after_bulk.emplace_back(
            "DELETE FROM thread_messages WHERE thread_id = $1",
            pg_params{}.text(th.id));
        } else {
          after_bulk.emplace_back(
            "UPDATE threads SET summary = $1, summarized = $2 WHERE id = $3",
            pg_params{}.bytes(th.summary).integer(as_int(th.summarized)).text(
              th.id));
        }
      }
    }
    size_t accepted_at = 0;
    if (!a_id.empty()) {
      accepted_at = q.size();
      q.emplace_back(
        "INSERT INTO tasks(id, principal, agent, session, input, idem_key, "
        "request_hash, status, created_ms, updated_ms, thread) "
        "SELECT id, principal, agent, session, decode(input, 'hex'), "
        "NULLIF(idem_key, ''), request_hash, 'queued', created_ms, "
        "created_ms, thread FROM unnest($1::bigint[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
        "$8::bigint[], $9::text[]) AS u(id, principal, agent, session, "
        "input, idem_key, request_hash, created_ms, thread) "
        "ON CONFLICT DO NOTHING RETURNING id",
        pg_params{}
          .text_array(a_id)
          .text_array(a_principal)
          .text_array(a_agent)
          .text_array(a_session)
          .text_array(a_input)
          .text_array(a_key)
          .text_array(a_hash)
          .text_array(a_created)
          .text_array(a_thread));
    }
    if (!steps.empty()) {
      std::vector<std::string> s_id, s_idx, s_record;
      for (auto& [key, record] : steps) {
        s_id.push_back(std::to_string(key.first));
        s_idx.push_back(std::to_string(key.second));
        s_record.push_back(*record);
      }
      q.emplace_back("INSERT INTO steps(task_id, idx, record) SELECT * FROM "
                     "unnest($1::bigint[], $2::bigint[], $3::text[]) "
                     "ON CONFLICT (task_id, idx) DO UPDATE SET record = "
                     "EXCLUDED.record",
                     pg_params{}
                       .text_array(s_id)
                       .text_array(s_idx)
                       .text_array(s_record));
    }
    if (!f_id.empty())
      // The input is kept only to resume the task: an ended task's goes.
      q.emplace_back("UPDATE tasks SET status = u.status, result = u.result, "
                     "updated_ms = $4, input = '' FROM unnest($1::bigint[], "
                     "$2::text[], $3::text[]) AS u(id, status, result) "
                     "WHERE tasks.id = u.id",
                     pg_params{}
                       .text_array(f_id)
                       .text_array(f_status)
                       .text_array(f_result)
                       .integer(now_ms()));
    auto first_after = q.size();
    for (auto& s : after_bulk)
      q.push_back(std::move(s));
    q.emplace_back("COMMIT", pg_params{});
    auto rows = pool_->run<std::vector<pg_rows>>(
      [&](pg_connection& c) -> result<std::vector<pg_rows>> {
        auto r = c.pipeline(q);
        if (!r && c.ok())
          // The failed statement left the transaction aborted.
          (void)c.exec("ROLLBACK");
        return r;
      });
    if (!rows)
      return failed(batch, "the task journal could not commit: " +
                             rows.error().message);
    std::set<uint64_t> inserted;
    if (accepted_at != 0) {
      auto& r = (*rows)[accepted_at];
      for (size_t i = 0; i < r.size(); ++i)
        inserted.insert(static_cast<uint64_t>(r.integer(i, 0)));
    }
    std::vector<std::function<void()>> after;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& o = batch[i];
      if (auto* a = std::get_if<accept_op>(&o);
          a && !inserted.count(a->task.id)) {
        if (a->done)
          after.push_back([done = std::move(a->done)] {
            done(failure{errc::invalid_input,
                         "the journal refused the task: its Idempotency-Key "
                         "or id is taken"});
          });
      } else if (auto* t = std::get_if<thread_op>(&o);
                 t && t->what == thread_op::create &&
                 (*rows)[first_after + decides[i]].affected() == 0) {
        if (t->done)
          after.push_back([done = std::move(t->done)] {
            done(failure{errc::invalid_input,
                         "the journal refused the thread: its id is taken"});
          });
      } else {
        after.push_back(stored(o));
      }
    }
    return after;
  }

  std::optional<journaled_task> get(uint64_t id) const override {
    auto rows =
      read({{std::string{task_columns} + "WHERE id = $1",
             pg_params{}.integer(as_int(id))},
            {"SELECT record FROM steps WHERE task_id = $1 ORDER BY idx",
             pg_params{}.integer(as_int(id))}});
    if (!rows || (*rows)[0].empty())
      return std::nullopt;
    auto t = read_task((*rows)[0], 0);
    auto& steps = (*rows)[1];
    for (size_t i = 0; i < steps.size(); ++i)
      t.steps.emplace_back(steps.text(i, 0));
    return t;
  }

  std::optional<journaled_task>
  find_idempotent(const std::string& principal,
                  const std::string& key) const override {
    auto rows = read(
      {{std::string{task_columns} + "WHERE principal = $1 AND idem_key = $2",
        pg_params{}.text(principal).text(key)}});
    if (!rows || (*rows)[0].empty())
      return std::nullopt;
    return read_task((*rows)[0], 0);
  }

  std::vector<journaled_task> unfinished() const override {
    auto rows = read(
      {{std::string{task_columns} + "WHERE status = 'queued' ORDER BY id", {}},
       {"SELECT s.task_id, s.record FROM steps s JOIN tasks t ON t.id = "
        "s.task_id WHERE t.status = 'queued' ORDER BY s.task_id, s.idx",
        {}}});
    std::vector<journaled_task> out;
    if (!rows)
      return out;
    auto& tasks = (*rows)[0];
    auto& steps = (*rows)[1];
    size_t s = 0;
    for (size_t i = 0; i < tasks.size(); ++i) {
      out.push_back(read_task(tasks, i));
      auto id = static_cast<int64_t>(out.back().id);
      while (s < steps.size() && steps.integer(s, 0) < id)
        ++s;
      for (; s < steps.size() && steps.integer(s, 0) == id; ++s)
        out.back().steps.emplace_back(steps.text(s, 1));
    }
    return out;
  }

  uint64_t max_id() const override {
    auto rows = read({{"SELECT COALESCE(MAX(id), 0) FROM tasks", {}}});
    return rows ? static_cast<uint64_t>((*rows)[0].integer(0, 0)) : 0;
  }

  std::optional<journaled_thread>
  get_thread(const std::string& id) const override {
    auto rows = read(
      {{"SELECT id, principal, agent, metadata, created_ms, updated_ms, "
        "summary, summarized FROM threads WHERE id = $1",
        pg_params{}.text(id)},
       {"SELECT message FROM thread_messages WHERE thread_id = $1 ORDER BY seq",
        pg_params{}.text(id)},
       {"SELECT id, status FROM tasks WHERE thread = $1 ORDER BY id",
        pg_params{}.text(id)}});
    if (!rows || (*rows)[0].empty())
      return std::nullopt;
    auto& q = (*rows)[0];
    journaled_thread t;
    t.id = q.text(0, 0);
    t.principal = q.text(0, 1);
    t.agent = q.text(0, 2);
    t.metadata = q.text(0, 3);
    t.created_ms = q.integer(0, 4);
    t.updated_ms = q.integer(0, 5);
    t.summary = q.bytes(0, 6);
    t.summarized = static_cast<uint64_t>(q.integer(0, 7));
    auto& m = (*rows)[1];
    for (size_t i = 0; i < m.size(); ++i)
      t.messages.emplace_back(m.text(i, 0));
    auto& r = (*rows)[2];
    for (size_t i = 0; i < r.size(); ++i)
      t.runs.emplace_back(static_cast<uint64_t>(r.integer(i, 0)), r.text(i, 1));
    return t;
  }

private:
  /// Appends `messages` to thread `thread` (if it still exists), after its
  /// last one: statements of the same transaction see the ones before.
  static void append_turn(statements& q, const std::string& thread,
                          const std::vector<std::string>& messages) {
    q.emplace_back(
      "INSERT INTO thread_messages(thread_id, seq, message) "
      "SELECT $1, COALESCE((SELECT MAX(seq) FROM thread_messages WHERE "
      "thread_id = $1), 0) + m.ord, m.msg FROM unnest($2::text[]) WITH "
      "ORDINALITY AS m(msg, ord) WHERE EXISTS (SELECT 1 FROM threads WHERE "
      "id = $1)",
      pg_params{}.text(thread).text_array(messages));
    q.emplace_back("UPDATE threads SET updated_ms = $1 WHERE id = $2",
                   pg_params{}.integer(now_ms()).text(thread));
  }

  /// Runs the reads `q` in one round trip. A store that cannot answer
  /// reads as empty: the caller says "not found" (the pool's state says
  /// why, on /ready).
  result<std::vector<pg_rows>> read(statements q) const {
    return pool_->run<std::vector<pg_rows>>(
      [&](pg_connection& c) { return c.pipeline(q); });
  }

  std::shared_ptr<pg_pool> pool_;
  static constexpr uint64_t id_block = 1024;
  std::mutex id_mutex_;
  uint64_t next_ = 0;
  uint64_t block_end_ = 0;
};

} // namespace

result<std::unique_ptr<journal>>
open_postgres_journal(std::shared_ptr<pg_pool> pool) {
  auto version = pool->run<int64_t>([](pg_connection& c) -> result<int64_t> {
    if (auto locked = c.exec(schema_lock); !locked)
      return locked.error();
    auto made = c.exec_script(schema);
    result<int64_t> out = int64_t{0};
    // The id blocks start above every id the tasks table holds (a journal
    // from before the sequence), and never go back.
    auto ids = made ? c.exec("SELECT setval('task_id_blocks', GREATEST((SELECT "
                             "COALESCE(MAX(id), 0) FROM tasks), (SELECT "
                             "last_value FROM task_id_blocks), 1))")
                    : result<pg_rows>{made.error()};
    if (!made) {
      out = made.error();
    } else if (!ids) {
      out = ids.error();
    } else {
      auto v = c.exec("INSERT INTO troupe_schema VALUES('journal', $1) ON "
                      "CONFLICT DO NOTHING",
                      pg_params{}.integer(journal_schema_version));
      auto got =
        c.exec("SELECT version FROM troupe_schema WHERE component = 'journal'");
      if (!v)
        out = v.error();
      else if (!got)
        out = got.error();
      else
        out = got->integer(0, 0);
    }
    (void)c.exec(schema_unlock);
    return out;
  });
  if (!version)
    return failure{version.error().code, "cannot open the task journal in "
                                         "PostgreSQL: " +
                                           version.error().message};
  if (*version > journal_schema_version)
    return failure{
      errc::invalid_config,
      "the task journal in PostgreSQL has schema version " +
        std::to_string(*version) + ", newer than this troupe's (" +
        std::to_string(journal_schema_version) +
        "): run a troupe at least as new as the one that wrote it"};
  auto j = std::make_unique<postgres_journal>(std::move(pool));
  j->start_writer();
  return std::unique_ptr<journal>{std::move(j)};
}

} // namespace troupe::store
