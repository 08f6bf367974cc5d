#include "store/postgres_journal.hpp"

#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "store/hex.hpp"

namespace troupe::store {

namespace {

constexpr const char* schema = R"(
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
  -- version 2: leases (owner, fencing token, expiry) and the turns of a
  -- thread's runs; a task from before them has none (expired).
  ALTER TABLE tasks ADD COLUMN IF NOT EXISTS owner TEXT NOT NULL DEFAULT '';
  ALTER TABLE tasks ADD COLUMN IF NOT EXISTS fence BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN IF NOT EXISTS lease_until BIGINT NOT NULL
    DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN IF NOT EXISTS turn BIGINT NOT NULL DEFAULT 0;
  ALTER TABLE threads ADD COLUMN IF NOT EXISTS runs BIGINT NOT NULL
    DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN IF NOT EXISTS cancel_requested BOOLEAN NOT
    NULL DEFAULT false;
)";

/// The database's clock, in milliseconds: every replica's leases are
/// measured by one clock, whatever the skew between their hosts.
#define TROUPE_NOW_MS "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"

/// The channel commits are announced on: "t:<ids>;h:<threads>" (tasks
/// whose steps or end were written, threads whose run ended).
constexpr const char* changes_channel = "troupe_changes";

/// Any number: it only has to be the same for every replica.
constexpr const char* schema_lock = "SELECT pg_advisory_lock(735318)";
constexpr const char* schema_unlock = "SELECT pg_advisory_unlock(735318)";

constexpr const char* task_columns =
  "SELECT id, principal, agent, session, input, idem_key, request_hash, "
  "status, result, created_ms, updated_ms, thread, owner, fence, turn, "
  "cancel_requested FROM tasks ";

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
  t.owner = q.text(row, 12);
  t.fence = static_cast<uint64_t>(q.integer(row, 13));
  t.turn = static_cast<uint64_t>(q.integer(row, 14));
  t.cancel_requested = q.text(row, 15) == "t";
  return t;
}

/// "1,2,3" of `ids`.
std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

/// Parses a change payload ("t:1,2;h:a,b;c:3") into `out`.
void parse_change(std::string_view p, changes& out) {
  while (!p.empty()) {
    auto end = p.find(';');
    auto part = p.substr(0, end);
    p = end == std::string_view::npos ? std::string_view{} : p.substr(end + 1);
    if (part.size() < 2 || part[1] != ':')
      continue;
    auto kind = part[0];
    part.remove_prefix(2);
    while (!part.empty()) {
      auto comma = part.find(',');
      auto item = part.substr(0, comma);
      part = comma == std::string_view::npos ? std::string_view{}
                                             : part.substr(comma + 1);
      if (item.empty())
        continue;
      if (kind == 'h') {
        out.threads.emplace_back(item);
      } else if (kind == 't' || kind == 'c') {
        uint64_t id = 0;
        for (char c : item)
          id =
            c >= '0' && c <= '9' ? id * 10 + static_cast<uint64_t>(c - '0') : 0;
        if (id != 0)
          (kind == 't' ? out.tasks : out.cancels).push_back(id);
      }
    }
  }
}

using statements = std::vector<std::pair<std::string, pg_params>>;

int64_t as_int(uint64_t x) {
  return static_cast<int64_t>(x);
}

class postgres_journal final : public journal {
public:
  postgres_journal(std::shared_ptr<pg_pool> pool, lease_settings lease)
    : journal(std::move(lease)), pool_(std::move(pool)) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
      wake_[0] = wake_[1] = -1;
  }

  ~postgres_journal() override {
    stop_leases();
    stop_writer();
    for (int fd : wake_)
      if (fd >= 0)
        ::close(fd);
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
      a_key, a_hash, a_created, a_thread, a_owner, a_fence;
    /// (task, index) -> the latest record: a later one replaces it.
    std::map<std::pair<uint64_t, uint64_t>, const std::string*> steps;
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> step_fence;
    std::vector<std::string> f_id, f_status, f_result, f_fence, f_ended;
    statements after_bulk;
    /// The statement (in `after_bulk`) deciding a thread creation or a
    /// run's place.
    std::vector<size_t> decides(batch.size(), 0);
    /// Threads with a new run: locked first (in one order, so that two
    /// replicas' batches cannot deadlock) — one run's turn at a time.
    std::set<std::string> run_threads;
    std::set<uint64_t> changed_tasks;
    std::set<std::string> changed_threads;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& o = batch[i];
      if (auto* r = std::get_if<run_op>(&o)) {
        auto& t = r->task;
        run_threads.insert(t.thread);
        decides[i] = after_bulk.size();
        after_bulk.emplace_back(
          "WITH open AS (SELECT COUNT(*) AS n FROM tasks WHERE thread = $1 "
          "AND status = 'queued'), bump AS (UPDATE threads SET runs = runs + "
          "1 WHERE id = $1 AND NOT ($2::boolean AND (SELECT n FROM open) > "
          "0) RETURNING runs), ins AS (INSERT INTO tasks(id, principal, "
          "agent, session, input, idem_key, request_hash, status, "
          "created_ms, updated_ms, thread, owner, fence, lease_until, turn) "
          "SELECT $3, $4, $5, $6, decode($7, 'hex'), NULL, $8, 'queued', $9, "
          "$9, $1, $10, $11, " TROUPE_NOW_MS " + $12, runs FROM bump ON "
          "CONFLICT DO NOTHING RETURNING turn) SELECT (SELECT n FROM open), "
          "(SELECT runs FROM bump), (SELECT turn FROM ins), EXISTS (SELECT 1 "
          "FROM threads WHERE id = $1)",
          pg_params{}
            .text(t.thread)
            .text(r->exclusive ? "true" : "false")
            .integer(as_int(t.id))
            .text(t.principal)
            .text(t.agent)
            .text(t.session)
            .text(hex(t.input))
            .text(t.request_hash)
            .integer(t.created_ms)
            .text(t.owner.empty() ? lease_.owner : t.owner)
            .integer(as_int(std::max<uint64_t>(t.fence, 1)))
            .integer(lease_.lease_ms));
      } else if (auto* a = std::get_if<accept_op>(&o)) {
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
        a_owner.push_back(t.owner.empty() ? lease_.owner : t.owner);
        a_fence.push_back(std::to_string(std::max<uint64_t>(t.fence, 1)));
      } else if (auto* s = std::get_if<step_op>(&o)) {
        steps[{s->id, s->index}] = &s->record;
        step_fence[{s->id, s->index}] = s->fence;
        changed_tasks.insert(s->id);
      } else if (auto* f = std::get_if<finish_op>(&o)) {
        f_id.push_back(std::to_string(f->id));
        f_status.push_back(f->status);
        f_result.push_back(f->result);
        f_fence.push_back(std::to_string(f->fence));
        f_ended.push_back(std::to_string(f->ended_ms));
        changed_tasks.insert(f->id);
        if (!f->thread.empty())
          changed_threads.insert(f->thread);
        if (!f->thread.empty() && !f->messages.empty())
          append_turn(after_bulk, f->thread, f->messages, f->id, f->fence);
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
            pg_params{}
              .bytes(th.summary)
              .integer(as_int(th.summarized))
              .text(th.id));
        }
      }
    }
    size_t accepted_at = 0;
    if (!a_id.empty()) {
      accepted_at = q.size();
      q.emplace_back(
        "INSERT INTO tasks(id, principal, agent, session, input, idem_key, "
        "request_hash, status, created_ms, updated_ms, thread, owner, fence, "
        "lease_until) "
        "SELECT id, principal, agent, session, decode(input, 'hex'), "
        "NULLIF(idem_key, ''), request_hash, 'queued', created_ms, "
        "created_ms, thread, owner, fence, " TROUPE_NOW_MS " + $12 FROM "
        "unnest($1::bigint[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
        "$8::bigint[], $9::text[], $10::text[], $11::bigint[]) AS u(id, "
        "principal, agent, session, input, idem_key, request_hash, "
        "created_ms, thread, owner, fence) "
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
          .text_array(a_thread)
          .text_array(a_owner)
          .text_array(a_fence)
          .integer(lease_.lease_ms));
    }
    if (!run_threads.empty())
      q.emplace_back("SELECT id FROM threads WHERE id = ANY($1::text[]) "
                     "ORDER BY id FOR UPDATE",
                     pg_params{}.text_array(std::vector<std::string>(
                       run_threads.begin(), run_threads.end())));
    // A write under a fence is stored only while the task's fence is that
    // one; the task's row is locked for it (FOR SHARE), so a takeover
    // committing meanwhile is seen, and the rows returned say which were.
    size_t steps_at = 0;
    if (!steps.empty()) {
      std::vector<std::string> s_id, s_idx, s_record, s_fence;
      for (auto& [key, record] : steps) {
        s_id.push_back(std::to_string(key.first));
        s_idx.push_back(std::to_string(key.second));
        s_record.push_back(*record);
        s_fence.push_back(std::to_string(step_fence[key]));
      }
      steps_at = q.size();
      q.emplace_back("INSERT INTO steps(task_id, idx, record) SELECT "
                     "u.task_id, u.idx, u.record FROM unnest($1::bigint[], "
                     "$2::bigint[], $3::text[], $4::bigint[]) AS u(task_id, "
                     "idx, record, fence) WHERE u.fence = 0 OR EXISTS "
                     "(SELECT 1 FROM tasks t WHERE t.id = u.task_id AND "
                     "t.fence = u.fence FOR SHARE) "
                     "ON CONFLICT (task_id, idx) DO UPDATE SET record = "
                     "EXCLUDED.record RETURNING task_id, idx",
                     pg_params{}
                       .text_array(s_id)
                       .text_array(s_idx)
                       .text_array(s_record)
                       .text_array(s_fence));
    }
    size_t ends_at = 0;
    if (!f_id.empty()) {
      ends_at = q.size();
      // The input is kept only to resume the task: an ended task's goes.
      q.emplace_back("UPDATE tasks SET status = u.status, result = u.result, "
                     "updated_ms = u.ended, input = '' FROM "
                     "unnest($1::bigint[], $2::text[], $3::text[], "
                     "$4::bigint[], $5::bigint[]) AS u(id, status, result, "
                     "ended, fence) WHERE tasks.id = u.id AND (u.fence = 0 "
                     "OR tasks.fence = u.fence) RETURNING tasks.id",
                     pg_params{}
                       .text_array(f_id)
                       .text_array(f_status)
                       .text_array(f_result)
                       .text_array(f_ended)
                       .text_array(f_fence));
    }
    auto first_after = q.size();
    for (auto& s : after_bulk)
      q.push_back(std::move(s));
    // Other replicas following these tasks (or waiting on these threads)
    // hear of the commit; a payload stays under NOTIFY's 8,000 bytes.
    {
      std::vector<std::string> ids, threads;
      for (auto id : changed_tasks)
        ids.push_back(std::to_string(id));
      for (auto& t : changed_threads)
        threads.push_back(t);
      while (!ids.empty() || !threads.empty()) {
        std::string payload;
        std::vector<std::string> part;
        while (!ids.empty() && payload.size() < 3800) {
          payload += (payload.empty() ? "" : ",") + ids.back();
          ids.pop_back();
        }
        std::string th;
        while (!threads.empty() && th.size() < 3800) {
          th += (th.empty() ? "" : ",") + threads.back();
          threads.pop_back();
        }
        q.emplace_back(
          "SELECT pg_notify($1, $2)",
          pg_params{}.text(changes_channel).text("t:" + payload + ";h:" + th));
      }
    }
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
    std::set<uint64_t> inserted, ended;
    std::set<std::pair<uint64_t, uint64_t>> stepped;
    if (accepted_at != 0) {
      auto& r = (*rows)[accepted_at];
      for (size_t i = 0; i < r.size(); ++i)
        inserted.insert(static_cast<uint64_t>(r.integer(i, 0)));
    }
    if (steps_at != 0) {
      auto& r = (*rows)[steps_at];
      for (size_t i = 0; i < r.size(); ++i)
        stepped.emplace(static_cast<uint64_t>(r.integer(i, 0)),
                        static_cast<uint64_t>(r.integer(i, 1)));
    }
    if (ends_at != 0) {
      auto& r = (*rows)[ends_at];
      for (size_t i = 0; i < r.size(); ++i)
        ended.insert(static_cast<uint64_t>(r.integer(i, 0)));
    }
    std::vector<std::function<void()>> after;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& o = batch[i];
      if (auto* r = std::get_if<run_op>(&o)) {
        auto& row = (*rows)[first_after + decides[i]];
        result<run_place> place = run_place{};
        if (row.is_null(0, 1))
          place =
            row.text(0, 3) == "t"
              ? failure{errc::thread_busy,
                        "thread '" + r->task.thread + "' has a run going"}
              : failure{errc::not_found, "no thread '" + r->task.thread + "'"};
        else if (row.is_null(0, 2))
          place = failure{errc::invalid_input,
                          "the journal refused the run: its id is taken"};
        else
          place = run_place{static_cast<uint64_t>(row.integer(0, 2)),
                            static_cast<uint64_t>(row.integer(0, 0))};
        if (r->done)
          after.push_back([done = std::move(r->done), place] { done(place); });
      } else if (auto* s = std::get_if<step_op>(&o);
                 s && s->fence != 0 && !stepped.count({s->id, s->index})) {
        after.push_back(fenced(s->id));
      } else if (auto* f = std::get_if<finish_op>(&o);
                 f && f->fence != 0 && !ended.count(f->id)) {
        after.push_back(fenced(f->id));
      } else if (auto* a = std::get_if<accept_op>(&o);
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

  result<std::vector<journaled_task>> claim(bool own, size_t limit) override {
    // Locked rows are another replica's claim under way: skipped, not
    // waited for.
    auto taken = read(
      {{"WITH c AS (SELECT id FROM tasks WHERE status = 'queued' AND "
        "((lease_until < " TROUPE_NOW_MS " AND owner <> $1) OR ($2::boolean "
        "AND owner = $1)) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "UPDATE tasks t SET owner = $1, fence = t.fence + 1, lease_until "
        "= " TROUPE_NOW_MS
        " + $4 FROM c WHERE t.id = c.id RETURNING t.id, t.principal, "
        "t.agent, t.session, t.input, t.idem_key, t.request_hash, t.status, "
        "t.result, t.created_ms, t.updated_ms, t.thread, t.owner, t.fence, "
        "t.turn, t.cancel_requested",
        pg_params{}
          .text(lease_.owner)
          .text(own ? "true" : "false")
          .integer(static_cast<int64_t>(std::min<size_t>(limit, 1000000)))
          .integer(lease_.lease_ms)}});
    if (!taken)
      return failure{taken.error().code, "the journal could not claim tasks: " +
                                           taken.error().message};
    std::vector<journaled_task> out;
    auto& rows = (*taken)[0];
    for (size_t i = 0; i < rows.size(); ++i)
      out.push_back(read_task(rows, i));
    if (out.empty())
      return out;
    std::sort(out.begin(), out.end(),
              [](auto& a, auto& b) { return a.id < b.id; });
    std::vector<std::string> ids;
    for (auto& t : out)
      ids.push_back(std::to_string(t.id));
    // Its steps, read after the claim committed: a write of the old owner
    // is either in (committed before) or refused (fenced).
    auto steps = read({{"SELECT task_id, record FROM steps WHERE task_id = "
                        "ANY($1::bigint[]) ORDER BY task_id, idx",
                        pg_params{}.text_array(ids)}});
    if (!steps)
      // Claimed, but not readable now: they run again once the lease the
      // claim took expires.
      return failure{steps.error().code,
                     "the journal could not read claimed tasks: " +
                       steps.error().message};
    auto& st = (*steps)[0];
    size_t k = 0;
    for (auto& t : out) {
      auto id = static_cast<int64_t>(t.id);
      while (k < st.size() && st.integer(k, 0) < id)
        ++k;
      for (; k < st.size() && st.integer(k, 0) == id; ++k)
        t.steps.emplace_back(st.text(k, 1));
    }
    return out;
  }

  result<uint64_t> prune(int64_t cutoff_ms, uint64_t below_id,
                         uint32_t batch) override {
    // One statement: the tasks and their steps go together. Rows another
    // replica's pruner holds are skipped, not waited for.
    auto r = read(
      {{"WITH gone AS (DELETE FROM tasks WHERE id IN (SELECT id FROM tasks "
        "WHERE status <> 'queued' AND (updated_ms < $1 OR id <= $2) AND "
        "(thread = '' OR NOT EXISTS (SELECT 1 FROM threads WHERE threads.id "
        "= tasks.thread)) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "RETURNING id), s AS (DELETE FROM steps WHERE task_id IN (SELECT id "
        "FROM gone)) SELECT COUNT(*) FROM gone",
        pg_params{}
          .integer(cutoff_ms)
          .integer(as_int(below_id))
          .integer(static_cast<int64_t>(batch))}});
    if (!r)
      return failure{r.error().code,
                     "the journal could not prune: " + r.error().message};
    return static_cast<uint64_t>((*r)[0].integer(0, 0));
  }

  result<uint64_t> count_bound(uint64_t keep) const override {
    auto r = read({{"SELECT id FROM tasks WHERE status <> 'queued' AND "
                    "(thread = '' OR NOT EXISTS (SELECT 1 FROM threads WHERE "
                    "threads.id = tasks.thread)) ORDER BY id DESC OFFSET $1 "
                    "LIMIT 1",
                    pg_params{}.integer(as_int(keep))}});
    if (!r)
      return r.error();
    return (*r)[0].empty() ? uint64_t{0}
                           : static_cast<uint64_t>((*r)[0].integer(0, 0));
  }

  result<info_type> info() const override {
    auto r = read(
      {{"SELECT version FROM troupe_schema WHERE component = 'journal'", {}},
       {"SELECT COUNT(*) FILTER (WHERE status = 'queued'), COUNT(*) FILTER "
        "(WHERE status <> 'queued') FROM tasks",
        {}},
       {"SELECT COUNT(*) FROM steps", {}},
       {"SELECT COUNT(*) FROM threads", {}},
       {"SELECT SUM(pg_total_relation_size(c::regclass)) FROM "
        "unnest(ARRAY['tasks', "
        "'steps', 'threads', 'thread_messages']) AS c",
        {}}});
    if (!r)
      return r.error();
    info_type out;
    out.backend = "postgres";
    out.where = redacted_dsn(pool_->settings().dsn);
    out.schema_version = (*r)[0].empty() ? 0 : (*r)[0].integer(0, 0);
    out.unfinished = static_cast<uint64_t>((*r)[1].integer(0, 0));
    out.finished = static_cast<uint64_t>((*r)[1].integer(0, 1));
    out.steps = static_cast<uint64_t>((*r)[2].integer(0, 0));
    out.threads = static_cast<uint64_t>((*r)[3].integer(0, 0));
    out.bytes = (*r)[4].integer(0, 0);
    return out;
  }

  result<uint64_t> renew() override {
    auto r = read({{"UPDATE tasks SET lease_until = " TROUPE_NOW_MS " + $2 "
                    "WHERE owner = $1 AND status = 'queued'",
                    pg_params{}.text(lease_.owner).integer(lease_.lease_ms)}});
    if (!r)
      return r.error();
    return (*r)[0].affected();
  }

  void release() override {
    (void)read({{"UPDATE tasks SET lease_until = 0 WHERE owner = $1 AND "
                 "status = 'queued'",
                 pg_params{}.text(lease_.owner)}});
  }

  result<uint64_t> runs_ahead(const std::string& thread,
                              uint64_t turn) const override {
    auto r = read({{"SELECT COUNT(*) FROM tasks WHERE thread = $1 AND status "
                    "= 'queued' AND turn < $2",
                    pg_params{}.text(thread).integer(as_int(turn))}});
    if (!r)
      return r.error();
    return static_cast<uint64_t>((*r)[0].integer(0, 0));
  }

  void wait_changes(std::chrono::milliseconds timeout,
                    const std::function<void(changes)>& changed) override {
    // A connection of its own, outside the pool: it LISTENs between
    // queries, which a pooled one cannot.
    if (!listener_ || !listener_->ok()) {
      listener_.reset();
      auto c = pg_connection::open(pool_->settings());
      if (c && (*c)->exec(std::string{"LISTEN "} + changes_channel)) {
        listener_ = std::move(*c);
        // What was committed while it was not listening is unknown.
        changed(changes{.resync = true});
      } else {
        journal::wait_changes(timeout, changed);
        return;
      }
    }
    auto got = listener_->notifications(timeout, wake_[0]);
    drain_wake();
    if (!got)
      return;
    changes c;
    for (auto& p : *got)
      parse_change(p, c);
    if (!c.empty())
      changed(std::move(c));
  }

  result<bool> request_cancel(uint64_t id) override {
    auto r = read(
      {{"UPDATE tasks SET cancel_requested = true WHERE id = $1 "
        "AND status = 'queued'",
        pg_params{}.integer(as_int(id))},
       {"SELECT pg_notify($1, $2)",
        pg_params{}.text(changes_channel).text("c:" + std::to_string(id))}});
    if (!r)
      return r.error();
    return (*r)[0].affected() > 0;
  }

  void interrupt_changes() override {
    if (wake_[1] >= 0)
      (void)!::write(wake_[1], "x", 1);
  }

private:
  void drain_wake() {
    char buf[64];
    if (wake_[0] >= 0)
      while (::read(wake_[0], buf, sizeof buf) > 0) {
      }
  }

  /// The LISTEN connection (the lease thread's alone), and a pipe that
  /// wakes it to stop.
  std::unique_ptr<pg_connection> listener_;
  int wake_[2] = {-1, -1};

  /// Appends `messages` to thread `thread` (if it still exists), after its
  /// last one: statements of the same transaction see the ones before.
  /// Its run `run` must still hold fence `fence` (0: unchecked).
  static void append_turn(statements& q, const std::string& thread,
                          const std::vector<std::string>& messages,
                          uint64_t run, uint64_t fence) {
    q.emplace_back(
      "INSERT INTO thread_messages(thread_id, seq, message) "
      "SELECT $1, COALESCE((SELECT MAX(seq) FROM thread_messages WHERE "
      "thread_id = $1), 0) + m.ord, m.msg FROM unnest($2::text[]) WITH "
      "ORDINALITY AS m(msg, ord) WHERE EXISTS (SELECT 1 FROM threads WHERE "
      "id = $1) AND ($4 = 0 OR EXISTS (SELECT 1 FROM tasks WHERE id = $3 "
      "AND fence = $4))",
      pg_params{}
        .text(thread)
        .text_array(messages)
        .integer(as_int(run))
        .integer(as_int(fence)));
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
open_postgres_journal(std::shared_ptr<pg_pool> pool, lease_settings lease) {
  // Under the advisory lock: the version the database is at, refused if
  // newer than this build's; else the tables made or migrated (every
  // statement of `schema` is one that may run again) and the version set.
  auto version = pool->run<int64_t>([](pg_connection& c) -> result<int64_t> {
    if (auto locked = c.exec(schema_lock); !locked)
      return locked.error();
    auto step = [&]() -> result<int64_t> {
      if (auto t = c.exec("CREATE TABLE IF NOT EXISTS troupe_schema(component "
                          "TEXT PRIMARY KEY, version INTEGER NOT NULL)");
          !t)
        return t.error();
      auto got =
        c.exec("SELECT version FROM troupe_schema WHERE component = 'journal'");
      if (!got)
        return got.error();
      int64_t at = got->empty() ? 0 : got->integer(0, 0);
      if (at > journal_schema_version)
        return at;
      if (auto made = c.exec_script(schema); !made)
        return made.error();
      // The id blocks start above every id the tasks table holds (a
      // journal from before the sequence), and never go back.
      if (auto ids = c.exec("SELECT setval('task_id_blocks', GREATEST((SELECT "
                            "COALESCE(MAX(id), 0) FROM tasks), (SELECT "
                            "last_value FROM task_id_blocks), 1))");
          !ids)
        return ids.error();
      if (auto v = c.exec("INSERT INTO troupe_schema VALUES('journal', $1) ON "
                          "CONFLICT (component) DO UPDATE SET version = "
                          "EXCLUDED.version",
                          pg_params{}.integer(journal_schema_version));
          !v)
        return v.error();
      return int64_t{journal_schema_version};
    };
    auto out = step();
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
  auto j =
    std::make_unique<postgres_journal>(std::move(pool), std::move(lease));
  j->start_writer();
  return std::unique_ptr<journal>{std::move(j)};
}

} // namespace troupe::store
