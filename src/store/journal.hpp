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

struct step_op {
  uint64_t id;
  uint64_t index;
  std::string record;
  std::function<void()> done;
};

struct finish_op {
  uint64_t id;
  std::string status;
  std::string result;
  std::function<void()> done;
  /// A run's thread and the turn it appends ("" and none for a task).
  std::string thread = {};
  std::vector<std::string> messages = {};
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
  std::variant<accept_op, step_op, finish_op, thread_op, flush_op>;

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

  /// Journals step `index` of task `id` (JSON text; a later record of the
  /// same step replaces it). `done` (optional) runs after the commit.
  void step(uint64_t id, uint64_t index, std::string record,
            std::function<void()> done = {});

  /// Journals the end of task `id`: its status and result (JSON text).
  /// `done` (optional) runs after the commit.
  void finish(uint64_t id, std::string status, std::string result,
              std::function<void()> done = {});

  /// Journals the end of run `id` of thread `thread` and appends its turn
  /// (`messages`, JSON text each) to the thread in the same transaction:
  /// a turn is in the thread exactly when its run ended. `done` (optional)
  /// runs after the commit.
  void finish_turn(uint64_t id, std::string status, std::string result,
                   std::string thread, std::vector<std::string> messages,
                   std::function<void()> done = {});

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
  journal();

  /// Starts the writer thread: the backend calls it once it can commit.
  void start_writer();

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
};

/// Milliseconds since the Unix epoch.
int64_t now_ms();

} // namespace troupe::store
