#pragma once

// The daemon's durable task journal (SQLite, WAL): a task is written before
// the API acknowledges it, each finished step and the result as they come.
// One writer thread commits whatever has queued up in one transaction
// (group commit) and only then runs the callbacks, so "acknowledged" means
// "on disk". Reads use their own connection. CAF-free.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace troupe::daemon {

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

class journal {
public:
  /// Opens (creating) the journal at `file`; `durable`: every commit is
  /// synced to disk. Errors name the file and SQLite's reason.
  static result<std::unique_ptr<journal>> open(const std::filesystem::path& file,
                                               bool durable);

  /// Flushes what is queued and stops the writer.
  ~journal();

  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  /// Journals a new task; `done` runs on the writer thread after the commit
  /// with true, or with the error (e.g. a duplicate Idempotency-Key).
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
  /// error.
  void create_thread(journaled_thread thread,
                     std::function<void(result<bool>)> done);

  /// Keeps `summary` as the summary of thread `id`'s first `summarized`
  /// messages; `done` (optional) runs after the commit.
  void set_summary(std::string id, std::string summary, uint64_t summarized,
                   std::function<void()> done = {});

  /// Removes thread `id` and its messages (its runs stay, as tasks).
  void delete_thread(std::string id, std::function<void()> done = {});

  /// A thread with its messages and runs, if the journal has it.
  std::optional<journaled_thread> get_thread(const std::string& id) const;

  /// Waits until everything queued so far is committed.
  void flush();

  /// A task with its steps, if the journal has it.
  std::optional<journaled_task> get(uint64_t id) const;

  /// The task a principal submitted under an Idempotency-Key, if any.
  std::optional<journaled_task> find_idempotent(const std::string& principal,
                                                const std::string& key) const;

  /// Tasks that never ended (status queued), oldest first.
  std::vector<journaled_task> unfinished() const;

  /// The largest task id ever journaled (0 if none).
  uint64_t max_id() const;

  /// Tasks journaled since the journal was opened, and commits made.
  uint64_t commits() const;

  struct impl;

private:
  explicit journal(std::unique_ptr<impl> im);
  std::unique_ptr<impl> impl_;
};

/// Milliseconds since the Unix epoch.
int64_t now_ms();

} // namespace troupe::daemon
