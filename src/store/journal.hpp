#pragma once

// The durable task journal: a task is written before the API acknowledges
// it, each finished step and the result as they come, and the threads of
// conversations with their turns. Writes queue up; one writer thread
// commits whatever has queued in one transaction (group commit) and only
// then runs the callbacks, so "acknowledged" means "stored". Two backends
// (`store.backend`): SQLite files on this node (sqlite_journal.hpp), or a
// PostgreSQL database several replicas share (postgres_journal.hpp); both
// pass one behavioural suite (tests/store/journal.cpp). CAF-free.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "store/policies.hpp"

namespace troupe::store {

/// A task as the journal holds it.
struct journaled_task {
  uint64_t id = 0;
  std::string principal;
  std::string agent;
  std::string session;
  std::string input;
  /// The client's Idempotency-Key ("" if none) and a hash of its request.
  std::string idempotency_key;
  std::string request_hash;
  /// queued, completed, failed, rejected or cancelled.
  std::string status = "queued";
  /// The result as JSON text ("" until it ends).
  std::string result;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  /// Finished steps, JSON text each, in order.
  std::vector<std::string> steps;
  /// The conversation thread it is a run of ("" for none).
  std::string thread;
  /// Its lease: the replica that runs it, and the fencing token that
  /// replica writes under (one more at each takeover). A write under an
  /// older token is refused (see `journal::on_fenced`).
  std::string owner = {};
  uint64_t fence = 0;
  /// A thread's run: its place among the thread's runs (1, 2, …).
  uint64_t turn = 0;
  /// A replica was asked to cancel it (`request_cancel`).
  bool cancel_requested = false;
};

/// What other replicas committed, as the store announces it.
struct changes {
  /// Tasks whose steps or end were written.
  std::vector<uint64_t> tasks;
  /// Threads a run of which ended.
  std::vector<std::string> threads;
  /// Tasks a replica was asked to cancel (the one running them does).
  std::vector<uint64_t> cancels;
  /// Some may have been missed (after a reconnection): look at all.
  bool resync = false;

  bool empty() const {
    return tasks.empty() && threads.empty() && cancels.empty() && !resync;
  }
};

/// Where a thread's new run stands, once journaled.
struct run_place {
  /// Its turn (1, 2, …), and how many runs of its thread before it have
  /// not ended (0: it may start now).
  uint64_t turn = 0;
  uint64_t ahead = 0;
};

/// A conversation thread as the journal holds it.
struct journaled_thread {
  std::string id;
  std::string principal;
  std::string agent;
  /// The client's metadata, a JSON object as text.
  std::string metadata = "{}";
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  /// Its messages in order, JSON text each (`role`, `content`,
  /// `tool_calls`, `tool_call_id`, and the `run` that added it).
  std::vector<std::string> messages;
  /// Its runs, oldest first: task id and status.
  std::vector<std::pair<uint64_t, std::string>> runs;
  /// With `history: "summarize"`: the summary of its first `summarized`
  /// messages ("" and 0: none yet).
  std::string summary = {};
  uint64_t summarized = 0;
};

// -- the queued writes (for the backends) ------------------------------------

struct accept_op {
  journaled_task task;
  std::function<void(result<bool>)> done;
};

/// A thread's run: journaled with its turn; refused with `thread_busy`
/// if `exclusive` and a run of its thread has not ended.
struct run_op {
  journaled_task task;
  bool exclusive;
  std::function<void(result<run_place>)> done;
};

/// `fence` in the writes below: the lease token the write is made under
/// (0: none, unchecked — a thread's turn kept by the command line).
struct step_op {
  uint64_t id;
  uint64_t index;
  std::string record;
  std::function<void()> done;
  uint64_t fence = 0;
};

struct finish_op {
  uint64_t id;
  std::string status;
  std::string result;
  std::function<void()> done;
  /// A run's thread and the turn it appends ("" and none for a task).
  std::string thread = {};
  std::vector<std::string> messages = {};
  uint64_t fence = 0;
  /// When it ended (ms since the epoch), as the task's `updated_ms`.
  int64_t ended_ms = 0;
};

struct thread_op {
  journaled_thread thread;
  /// Create `thread`, remove `thread.id`, or keep its summary.
  enum kind { create, remove, summarize } what = create;
  std::function<void(result<bool>)> done;
};

struct flush_op {
  std::function<void()> done;
};

using journal_op =
  std::variant<accept_op, run_op, step_op, finish_op, thread_op, flush_op>;

class journal {
public:
  /// Commits what is queued and stops the writer (the backend's
  /// destructor does, before its connections close).
  virtual ~journal();

  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // -- writes: queued, committed together, `done` after the commit --------

  /// Journals a new task; `done` runs on the writer thread after the commit
  /// with true, or with the error (`invalid_input` for a duplicate
  /// Idempotency-Key or task id).
  void accept(journaled_task task, std::function<void(result<bool>)> done);

  /// Journals a new run of thread `task.thread`, owned by this replica
  /// under fence 1, with the thread's next turn; `done` gets its place, or
  /// `thread_busy` if `exclusive` and a run of the thread has not ended
  /// (on any replica), or the error.
  void accept_run(journaled_task task, bool exclusive,
                  std::function<void(result<run_place>)> done);

  /// The writes of a running task, made under the lease token `fence`
  /// (0: unchecked). One under a token that is no longer the task's (it
  /// was taken over) is not stored: its `done` never runs and
  /// `on_fenced` hears of the task instead. A write that could not be
  /// committed (the store is unreachable) is tried again, with backoff,
  /// until it is stored or the journal closes: a step or an end is never
  /// dropped while the process lives.

  /// Journals step `index` of task `id` (JSON text; a later record of the
  /// same step replaces it). `done` (optional) runs after the commit.
  void step(uint64_t id, uint64_t index, std::string record,
            std::function<void()> done = {}, uint64_t fence = 0);

  /// Journals the end of task `id`: its status and result (JSON text),
  /// ended at `ended_ms` (0: now). `done` (optional) runs after the commit.
  void finish(uint64_t id, std::string status, std::string result,
              std::function<void()> done = {}, uint64_t fence = 0,
              int64_t ended_ms = 0);

  /// Journals the end of run `id` of thread `thread` and appends its turn
  /// (`messages`, JSON text each) to the thread in the same transaction:
  /// a turn is in the thread exactly when its run ended. `done` (optional)
  /// runs after the commit.
  void finish_turn(uint64_t id, std::string status, std::string result,
                   std::string thread, std::vector<std::string> messages,
                   std::function<void()> done = {}, uint64_t fence = 0,
                   int64_t ended_ms = 0);

  /// Called on the writer thread with each task a write of which was
  /// refused because another replica took it over (set before writing).
  void on_fenced(std::function<void(uint64_t id)> f) {
    on_fenced_ = std::move(f);
  }

  /// Journals a new thread; `done` runs after the commit, with true or the
  /// error (`invalid_input` for an id taken).
  void create_thread(journaled_thread thread,
                     std::function<void(result<bool>)> done);

  /// Keeps `summary` as the summary of thread `id`'s first `summarized`
  /// messages; `done` (optional) runs after the commit.
  void set_summary(std::string id, std::string summary, uint64_t summarized,
                   std::function<void()> done = {});

  /// Removes thread `id` and its messages (its runs stay, as tasks).
  void delete_thread(std::string id, std::function<void()> done = {});

  /// Waits until everything queued so far is committed.
  void flush();

  /// Batches committed since the journal was opened.
  uint64_t commits() const;

  // -- reads: straight from the store
  // ------------------------------------------

  /// A task with its steps, if the journal has it.
  virtual std::optional<journaled_task> get(uint64_t id) const = 0;

  /// The task a principal submitted under an Idempotency-Key, if any.
  virtual std::optional<journaled_task>
  find_idempotent(const std::string& principal,
                  const std::string& key) const = 0;

  /// Tasks that never ended (status queued), oldest first, with steps.
  virtual std::vector<journaled_task> unfinished() const = 0;

  // -- leases: which replica runs which task --------------------------------

  const lease_settings& lease() const {
    return lease_;
  }

  /// Takes over (at most `limit`) unfinished tasks whose lease expired —
  /// and, with `own`, those this replica's name holds from an earlier
  /// life — oldest first, with their steps: each now has this replica as
  /// its owner and a fence one higher. Thread-safe; may block.
  virtual result<std::vector<journaled_task>> claim(bool own, size_t limit) = 0;

  /// Renews the leases of every unfinished task this replica owns; the
  /// number renewed. Thread-safe; may block.
  virtual result<uint64_t> renew() = 0;

  /// Lets go of this replica's leases (a clean stop, with tasks left
  /// unfinished): another replica takes them at once. May block.
  virtual void release() = 0;

  /// Asks whichever replica runs task `id` to cancel it (and one taking
  /// it over to end it at once); false if no unfinished task `id` is
  /// there. May block.
  virtual result<bool> request_cancel(uint64_t id) = 0;

  /// How many runs of `thread` before turn `turn` have not ended.
  virtual result<uint64_t> runs_ahead(const std::string& thread,
                                      uint64_t turn) const = 0;

  /// Starts a thread that renews this replica's leases (every third of a
  /// lease) and, while `claiming`, takes over expired ones (every
  /// twentieth of a lease, 250 ms at most), handing them to `claimed`
  /// (also when there are none: a tick); and, where the store announces
  /// what other replicas commit (PostgreSQL's LISTEN/NOTIFY), hands it to
  /// `changed` as it comes. Stopped by the backend's destructor or
  /// `stop_leases`.
  void keep_leases(std::function<void(std::vector<journaled_task>)> claimed,
                   std::function<void(changes)> changed = {});
  void set_claiming(bool on) {
    claiming_ = on;
  }
  void stop_leases();

  // -- retention: finished tasks do not stay for ever -----------------------

  /// Removes, in one transaction, up to `batch` finished tasks (with
  /// their steps) that ended before `cutoff_ms` or have an id at most
  /// `below_id` (0: none by count), oldest first — never a task that has
  /// not ended, nor a run of a thread that still exists. The number
  /// removed. Thread-safe; may block.
  virtual result<uint64_t> prune(int64_t cutoff_ms, uint64_t below_id,
                                 uint32_t batch) = 0;

  /// The id at and below which finished tasks (those retention may
  /// prune) are beyond the newest `keep` (0: there are not more than
  /// `keep`). May block.
  virtual result<uint64_t> count_bound(uint64_t keep) const = 0;

  /// Gives space freed by pruning back to the file system where the
  /// backend needs to be told (SQLite: an incremental vacuum; PostgreSQL's
  /// autovacuum needs nothing). May block.
  virtual void compact() {}

  /// Prunes everything past `r` now, batch after batch; the number
  /// removed (counted in `pruned()`).
  result<uint64_t> prune_all(const retention_settings& r);

  /// Starts a thread that runs `prune_all(r)` every `r.every` (the first
  /// time at once). Stopped by the backend's destructor or `stop_leases`.
  void keep_retention(retention_settings r);

  /// Tasks pruned since the journal was opened.
  uint64_t pruned() const {
    return pruned_.load();
  }

  /// What the store holds, for `troupe store`.
  struct info_type {
    std::string backend;
    /// Where: the file, or the database (its password masked).
    std::string where;
    int64_t schema_version = 0;
    uint64_t unfinished = 0;
    uint64_t finished = 0;
    uint64_t steps = 0;
    uint64_t threads = 0;
    /// The store's size on disk (-1: unknown).
    int64_t bytes = -1;
  };
  virtual result<info_type> info() const = 0;

  /// The largest task id ever journaled (0 if none).
  virtual uint64_t max_id() const = 0;

  /// A new task id, above every id the store holds and unique among every
  /// process sharing the store; 0 if the store cannot give one now (it is
  /// unreachable). Thread-safe.
  virtual uint64_t next_id() = 0;

  /// A thread with its messages and runs, if the journal has it.
  virtual std::optional<journaled_thread>
  get_thread(const std::string& id) const = 0;

  /// "sqlite" or "postgres".
  virtual const char* backend() const = 0;

protected:
  explicit journal(lease_settings lease);

  /// Starts the writer thread: the backend calls it once it can commit.
  void start_writer();

  /// Waits up to `timeout` for changes other replicas committed, and
  /// hands them to `changed`. The default (SQLite: one process) has
  /// none: it only waits.
  virtual void wait_changes(std::chrono::milliseconds timeout,
                            const std::function<void(changes)>& changed);

  /// Interrupts a `wait_changes` under way (the lease thread stops).
  virtual void interrupt_changes() {}

  /// A refused write's task, for `on_fenced` (after the commit).
  std::function<void()> fenced(uint64_t id);

  lease_settings lease_;

  /// Commits what is queued and joins the writer; the backend's destructor
  /// calls it first.
  void stop_writer();

  /// Commits `batch` (in queue order) in one transaction and returns the
  /// ops' callbacks to run after it (an accept or a thread's creation
  /// refused alone gets its error there). If the transaction fails,
  /// nothing of it is stored: return `failed(batch, why)`.
  virtual std::vector<std::function<void()>>
  commit(std::deque<journal_op>& batch) = 0;

  /// The callbacks that tell every op of `batch` it was not stored because
  /// of `why` (and the batch is not counted as committed).
  std::vector<std::function<void()>> failed(std::deque<journal_op>& batch,
                                            const std::string& why);

  /// The callback of an op that was stored.
  static std::function<void()> stored(journal_op& op);

private:
  void push(journal_op op);
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<journal_op> queue_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
  std::atomic<uint64_t> commits_{0};
  /// Set by `failed` during a commit (the writer thread's alone).
  bool batch_failed_ = false;
  /// Steps and ends of a batch that failed: tried again first.
  std::deque<journal_op> retry_;
  std::function<void(uint64_t)> on_fenced_;

  void run_leases();
  std::function<void(std::vector<journaled_task>)> claimed_;
  std::function<void(changes)> changed_;
  std::atomic<bool> claiming_{true};
  std::mutex lease_mutex_;
  std::condition_variable lease_wake_;
  bool lease_stopping_ = false;
  std::thread lease_thread_;
  /// The pruner (its wait is on `lease_wake_`, its stop `lease_stopping_`).
  std::thread retention_thread_;
  std::atomic<uint64_t> pruned_{0};
};

/// Milliseconds since the Unix epoch.
int64_t now_ms();

} // namespace troupe::store
