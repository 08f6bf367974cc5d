#pragma once

// PostgreSQL through libpq: a connection, its results, and a pool of
// connections each owned by a thread of its own, so that a query never
// blocks a caller's thread (an actor's, an I/O thread's): work goes in as a
// job, and its answer comes back through a callback on the pool's thread.
// The pool reconnects with backoff when the server goes away; meanwhile
// jobs fail at once with `role_down` (the store is a role every replica
// shares) and the reason, instead of waiting.
// CAF-free.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/result.hpp"

struct pg_conn;
struct pg_result;

namespace troupe::store {

/// How the pool connects and how big it grows.
struct pg_settings {
  /// A libpq connection string or URI (`postgresql://user:pw@host/db`).
  std::string dsn;
  /// Connections kept open, and the most it opens under load.
  uint32_t min_connections = 5;
  uint32_t max_connections = 20;
  /// Longest one statement may run (server-side `statement_timeout`).
  std::chrono::milliseconds statement_timeout{10000};
  /// Longest a connection attempt may take.
  std::chrono::milliseconds connect_timeout{3000};
  /// Waits between reconnection attempts: doubling from `backoff_min` up
  /// to `backoff_max`.
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{2000};
};

/// `dsn` with any password masked, for logs and errors.
std::string redacted_dsn(std::string_view dsn);

/// Query parameters, as text (libpq converts them by the statement's
/// types); nothing is SQL NULL.
class pg_params {
public:
  pg_params& text(std::string_view x) {
    values_.emplace_back(std::string{x});
    return *this;
  }
  pg_params& integer(int64_t x) {
    values_.emplace_back(std::to_string(x));
    return *this;
  }
  /// Bytes of any kind, for a BYTEA parameter (hex-encoded).
  pg_params& bytes(std::string_view x);
  /// A TEXT[] parameter (an array literal).
  pg_params& text_array(const std::vector<std::string>& xs);
  pg_params& null() {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  const std::vector<std::optional<std::string>>& values() const {
    return values_;
  }

private:
  std::vector<std::optional<std::string>> values_;
};

/// The rows of one statement (text format).
class pg_rows {
public:
  explicit pg_rows(::pg_result* r);
  pg_rows(pg_rows&&) noexcept;
  pg_rows& operator=(pg_rows&&) noexcept;
  ~pg_rows();

  size_t size() const;
  bool empty() const {
    return size() == 0;
  }
  /// Column `col` of row `row` ("" if NULL).
  std::string_view text(size_t row, size_t col) const;
  int64_t integer(size_t row, size_t col) const;
  /// A BYTEA column's bytes.
  std::string bytes(size_t row, size_t col) const;
  bool is_null(size_t row, size_t col) const;
  /// Rows an INSERT, UPDATE or DELETE touched.
  uint64_t affected() const;

private:
  ::pg_result* r_;
};

/// One open connection; a job has it to itself while it runs.
class pg_connection {
public:
  /// Connects; fails with `role_down` and libpq's reason (the
  /// password masked).
  static result<std::unique_ptr<pg_connection>> open(const pg_settings& cfg);
  ~pg_connection();

  /// Runs one statement with `params` ($1, $2, …). Fails with the
  /// server's message: `invalid_input` for a constraint it broke (SQLSTATE
  /// class 23, `sqlstate()` says which), `role_down` when the
  /// connection is gone, `timeout` past the statement timeout, else
  /// `unspecified`.
  result<pg_rows> exec(std::string_view sql, const pg_params& params = {});

  /// Sends `statements` in one pipeline (one round trip to the server)
  /// and reads their rows, in order; fails as `exec` does with the first
  /// that failed (the server skips the rest; a transaction they were in
  /// is left aborted, for the caller to roll back).
  result<std::vector<pg_rows>>
  pipeline(const std::vector<std::pair<std::string, pg_params>>& statements);

  /// Runs statements without parameters (several, `;`-separated).
  result<bool> exec_script(std::string_view sql);

  /// Waits up to `timeout` for notifications on the channels this
  /// connection LISTENs to (or until `wake_fd` is readable), and returns
  /// their payloads; fails with `role_down` when the connection is gone.
  result<std::vector<std::string>> notifications(std::chrono::milliseconds
                                                   timeout,
                                                 int wake_fd = -1);

  /// The SQLSTATE of the last failed statement ("" if none).
  const std::string& sqlstate() const {
    return sqlstate_;
  }

  /// False once the connection broke.
  bool ok() const;

private:
  explicit pg_connection(::pg_conn* c) : c_(c) {}
  result<pg_rows> check(::pg_result* r);

  ::pg_conn* c_;
  std::string sqlstate_;
  /// The connection is in a state this side cannot trust (a pipeline
  /// broke off): it is opened again.
  bool broken_ = false;
};

/// What the pool is doing, for /metrics and /ready.
struct pg_pool_stats {
  uint32_t open = 0;
  uint32_t in_use = 0;
  /// Jobs waiting for a connection.
  uint64_t waiting = 0;
  bool up = true;
  /// Why it is down ("" if up).
  std::string reason;
  uint64_t jobs = 0;
  uint64_t failed_fast = 0;
  uint64_t reconnects = 0;
  /// Job latency (queue wait plus run), counts per upper bound in seconds
  /// (`latency_bounds`), the last one for everything above.
  std::vector<uint64_t> latency_counts;
  double latency_sum = 0;
};

/// The latency histogram's upper bounds, in seconds.
const std::vector<double>& latency_bounds();

class pg_pool {
public:
  /// A job: runs on a pool thread with a connection to itself, or with the
  /// reason there is none (the server is unreachable).
  using job = std::function<void(result<pg_connection*>)>;

  /// Opens `cfg.min_connections` connections; fails (naming the server,
  /// password masked) if the first cannot be opened.
  static result<std::unique_ptr<pg_pool>> open(pg_settings cfg);

  /// Finishes the jobs queued, then closes every connection.
  ~pg_pool();

  pg_pool(const pg_pool&) = delete;
  pg_pool& operator=(const pg_pool&) = delete;

  /// Queues `j`; it runs on a pool thread. While the server is unreachable
  /// it gets the reason at once, on the caller's thread.
  void submit(job j);

  /// Runs `f` with a connection and waits for its answer: for callers that
  /// may block (start-up, the command line, tests).
  template <class T>
  result<T> run(std::function<result<T>(pg_connection&)> f) {
    std::mutex m;
    std::condition_variable cv;
    std::optional<result<T>> out;
    submit([&](result<pg_connection*> c) {
      result<T> r = c ? f(**c) : result<T>{c.error()};
      std::lock_guard guard{m};
      out.emplace(std::move(r));
      cv.notify_one();
    });
    std::unique_lock lock{m};
    cv.wait(lock, [&] { return out.has_value(); });
    return std::move(*out);
  }

  pg_pool_stats stats() const;

  const pg_settings& settings() const {
    return cfg_;
  }

private:
  explicit pg_pool(pg_settings cfg);
  void work(std::unique_ptr<pg_connection> conn);
  /// A new connection; if none opens, the pool goes down (the queued jobs
  /// fail with `why`), and `probe` says whether this thread is the one to
  /// try again (no other does).
  std::unique_ptr<pg_connection> try_connect(failure& why, bool& probe);
  /// Tries to connect with backoff until a connection opens (the pool is
  /// up again; returned) or the pool stops (null).
  std::unique_ptr<pg_connection> probe();
  /// Under `mutex_`: starts a thread when more jobs wait than threads are
  /// free and there is room.
  void grow_locked();

  struct queued {
    job j;
    std::chrono::steady_clock::time_point at;
  };

  pg_settings cfg_;
  mutable std::mutex mutex_;
  /// Workers wait here for jobs; the thread trying to reconnect waits on
  /// `stop_` between attempts.
  std::condition_variable wake_;
  std::condition_variable stop_;
  std::deque<queued> queue_;
  std::vector<std::thread> threads_;
  uint32_t open_ = 0;
  uint32_t idle_ = 0;
  bool stopping_ = false;
  bool down_ = false;
  std::string reason_;
  /// One thread at a time tries to reconnect while the server is down.
  bool probing_ = false;
  /// One more each time the server came back: a connection opened under
  /// an older one is replaced before its next job.
  uint64_t generation_ = 0;
  uint64_t jobs_ = 0;
  uint64_t failed_fast_ = 0;
  uint64_t reconnects_ = 0;
  std::vector<uint64_t> latency_counts_;
  double latency_sum_ = 0;
};

} // namespace troupe::store
