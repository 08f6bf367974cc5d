#pragma once

// The daemon's API: routes, authentication (API key -> principal), rate
// limits, the live task table with its event streams, the journal, and the
// Prometheus metrics. CAF-free: the engine is reached through `backend`.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "core/json.hpp"
#include "daemon/backend.hpp"
#include "store/journal.hpp"
#include "store/pg.hpp"
#include "http/server.hpp"

namespace troupe::daemon {

using store::journal;
using store::journaled_task;
using store::journaled_thread;
using store::now_ms;
using store::run_place;

class metrics;

class service : public backend_events,
                public std::enable_shared_from_this<service> {
public:
  /// `cfg` gives the access policy and the `serve` settings.
  static std::shared_ptr<service> make(const engine_config& cfg,
                                       std::unique_ptr<journal> j);

  ~service() override;

  struct recovery {
    size_t resumed = 0;
    size_t failed = 0;
  };

  /// Takes up the tasks the journal holds unfinished that are this
  /// replica's (from a crash or an earlier shutdown, under its name) or
  /// nobody's (their lease expired: a replica died), once the engine is
  /// attached; then keeps leases from now on (renewing its own, taking
  /// over a dead replica's, following other replicas' commits). A task
  /// resumes after its last finished step, unless a step was under way
  /// whose calls are not all idempotent (they may have run; running them
  /// again could do harm) — then it ends as failed, saying so.
  recovery recover();

  /// Connects the engine; until then /ready says not ready.
  void attach(std::unique_ptr<backend> b);

  /// Disconnects the engine (before it stops): tasks still waiting on it
  /// are let go, unfinished.
  void detach();

  /// The PostgreSQL pool under the journal (null: SQLite): /ready is 503
  /// while it cannot reach the server, /metrics shows it.
  void set_store_pool(std::shared_ptr<store::pg_pool> pool) {
    store_pool_ = std::move(pool);
  }

  /// Flushes and closes the journal (its thread ends); the service takes
  /// no calls after this.
  void close();

  /// The HTTP server, for its connection counts in /metrics.
  void set_server(const http::server* srv);

  /// Makes /metrics require `token` as a bearer token. Call before serving.
  void set_metrics_token(std::string token) {
    metrics_token_ = std::move(token);
  }

  /// A route the daemon answers: a method and a path pattern ("{id}"
  /// stands for one segment), as the OpenAPI document lists them.
  struct route {
    std::string method;
    std::string pattern;
  };

  /// Every route; anything else is 404 (or 405 on a known path).
  static const std::vector<route>& routes();

  /// The OpenAPI 3.1 document of the API (docs/openapi.json, built in).
  static std::string_view openapi();

  /// The HTTP handler.
  void handle(http::request req, std::shared_ptr<http::reply> rep);

  /// Not ready from now on, and new tasks are refused (503).
  void begin_drain();

  /// Waits until no task runs, `deadline` or `cut_drain`; true if none
  /// runs.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

  /// Ends a `wait_idle` under way (and any later one) at once: a second
  /// stop signal during the drain.
  void cut_drain();

  /// From now on, tasks that end (cancelled by the engine's shutdown) stay
  /// unfinished in the journal, for the next start.
  void stop_journaling_ends();

  /// Tasks accepted and not yet finished.
  size_t active() const;

  /// Applies what may change live: the access policy (keys, roles) and the
  /// rate limits.
  void reconfigure(const engine_config& cfg);

  // -- backend_events
  void on_step_started(uint64_t id, uint64_t index,
                       const step_record& step) override;
  void on_step(uint64_t id, uint64_t index, const step_record& step) override;
  void on_token(uint64_t id, std::string delta) override;
  void on_result(const task_result& result) override;

  /// Events a live task keeps for clients that reconnect (`Last-Event-ID`);
  /// older ones are replayed from its steps (tokens are not).
  static constexpr size_t event_buffer = 4096;


private:
  service(const engine_config& cfg, std::unique_ptr<journal> j);

  /// What a caller that waits on a task hears (the chat completions): its
  /// text as it streams, and its end. Called under `mutex_`; must not block.
  struct task_hooks {
    std::function<void(const std::string& delta)> token;
    std::function<void(const task_result&)> end;
  };

  struct live_task {
    journaled_task meta;
    /// False for a task the journal does not hold (a chat completion: the
    /// client holds the conversation, and is gone after a restart).
    bool journaled = true;
    task_hooks hooks;
    std::vector<json> steps;
    /// The step under way (its calls), once journaled; null between steps.
    json under_way;
    /// The result (answer, error_code, notes, …) once finished.
    json result;
    bool finished = false;
    /// Accepted, not yet with the engine: its history is being made (a
    /// thread's summary); a cancel meanwhile ends it before it runs.
    bool preparing = false;
    bool cancel_requested = false;
    std::chrono::steady_clock::time_point started;
    std::vector<std::shared_ptr<http::event_stream>> watchers;
    /// The id of the last event sent (ids only grow, across restarts too:
    /// see `next_event_id`).
    uint64_t last_event = 0;
    /// The latest events as sent (id, SSE text), oldest first.
    std::deque<std::pair<uint64_t, std::string>> recent;
  };

  /// Sends event `name` with `data` to `live`'s watchers under id `id`
  /// (0: the next), keeps it in `live.recent`, and returns the id. Under
  /// `mutex_`.
  uint64_t publish(live_task& live, std::string_view name,
                   std::string_view data, uint64_t id = 0);

  struct bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };

  void reply(const std::shared_ptr<http::reply>& rep, http::response res);
  void fail(const std::shared_ptr<http::reply>& rep, int status,
            std::string_view code, std::string_view message);

  /// The principal of the request's API key, or nothing (then it has
  /// answered 401).
  std::optional<std::string> authenticate(const http::request& req,
                                          const std::shared_ptr<http::reply>& rep);
  /// False (and 429 answered) if the principal is over its rate.
  bool admit(const std::string& principal,
             const std::shared_ptr<http::reply>& rep);
  /// False (and 503 answered) while draining or before the engine is
  /// attached: no new task, run or completion then.
  bool taking_work(const std::shared_ptr<http::reply>& rep);
  /// True if the request's method and path are in `routes()`; else it
  /// has answered 404, or 405 with the methods the path has.
  bool routed(const http::request& req,
              const std::shared_ptr<http::reply>& rep);
  /// The request's JSON object body, or nothing (then it has answered).
  std::optional<json> json_body(const http::request& req,
                                const std::shared_ptr<http::reply>& rep);

  void submit(const http::request& req, const std::string& principal,
              std::shared_ptr<http::reply> rep);
  void get_task(uint64_t id, const std::string& principal,
                std::shared_ptr<http::reply> rep);
  /// The task's events after `after` (0: from the start): from its live
  /// buffer, else its steps and result; then live ones if it runs.
  void stream_task(uint64_t id, const std::string& principal, uint64_t after,
                   std::shared_ptr<http::reply> rep);
  void cancel_task(uint64_t id, const std::string& principal,
                   std::shared_ptr<http::reply> rep);
  void memory(const http::request& req, const std::string& principal,
              bool search, std::shared_ptr<http::reply> rep);

  /// Resumes (or ends, saying why) tasks taken over from the journal.
  recovery take_over(std::vector<journaled_task> tasks);
  /// Task `id` was taken over by another replica: it stops here.
  void fenced(uint64_t id);
  /// What other replicas committed: followers and waiting runs go on,
  /// cancels asked elsewhere are done here.
  void changed_elsewhere(const store::changes& c);
  /// Cancels task `id`, running here; `done` says whether it was.
  void cancel_here(uint64_t id, std::function<void(bool)> done);
  /// Sends the followers of task `id` (running elsewhere) what is new.
  void follow_remote(uint64_t id);
  /// `advance` for each of `threads` (empty: every thread with a run
  /// waiting).
  void advance_threads(const std::vector<std::string>& threads);

  /// Followers of tasks another replica runs: what they were sent last.
  struct remote_followers {
    uint64_t last_event = 0;
    std::vector<std::shared_ptr<http::event_stream>> streams;
  };
  /// Under `mutex_`.
  std::map<uint64_t, remote_followers> remote_watchers_;
  /// Shows how many streams follow tasks elsewhere. Under `mutex_`.
  void count_followers();
  /// Tasks taken over by another replica whose engine run has not ended
  /// here yet: nothing more of theirs is recorded. Under `mutex_`.
  std::set<uint64_t> moved_;

  // -- threads (threads.cpp)

  /// A run waiting for its thread's run before it.
  struct waiting_run {
    journaled_task meta;
    std::vector<step_record> done;
    bool resumed = false;
  };

  /// Event streams of runs not started yet (queued behind their thread's
  /// run, or asked for with `"stream": true`): they become the run's
  /// watchers when it starts. Under `mutex_`.
  std::map<uint64_t, std::vector<std::shared_ptr<http::event_stream>>>
    pending_watchers_;

  /// The runs of one thread: one at a time.
  struct thread_runs {
    /// The task running now (0: none).
    uint64_t running = 0;
    std::deque<waiting_run> waiting;
  };

  /// /v1/threads, /v1/threads/{id}, /v1/threads/{id}/runs.
  void threads_route(const http::request& req, const std::string& principal,
                     std::shared_ptr<http::reply> rep);
  void create_thread(const http::request& req, const std::string& principal,
                     std::shared_ptr<http::reply> rep);
  void run_thread(const http::request& req, const std::string& principal,
                  const journaled_thread& thread,
                  std::shared_ptr<http::reply> rep);
  /// Starts the first waiting run of `thread` if none runs here and every
  /// run before it (on any replica) has ended.
  void advance(const std::string& thread);
  /// Run `id` of `thread` ended (or left): the next waiting one starts.
  void end_run(const std::string& thread, uint64_t id);
  /// Hands `then` the earlier turns of `meta.thread` that run `meta` of
  /// its agent gives the model: within the agent's history budget, the
  /// turns past it summarized first (`history: "summarize"`) or left out.
  void thread_history(const journaled_task& meta,
                      std::function<void(std::vector<chat_message>)> then);
  void serve_metrics(std::shared_ptr<http::reply> rep);

  /// What /metrics requires as a bearer token (empty: nothing).
  std::string metrics_token_;
  void serve_ready(std::shared_ptr<http::reply> rep);
  /// The store's PostgreSQL pool (null with SQLite).
  std::shared_ptr<store::pg_pool> store_pool_;

  /// Registers an accepted task and starts it (after `done` steps, if it
  /// is resumed).
  void start(journaled_task meta, std::vector<step_record> done = {},
             bool resumed = false, std::vector<chat_message> history = {},
             std::optional<task_hooks> hooks = std::nullopt);
  /// `start`, once the history is there: hands `req` to the engine (or
  /// ends it, if it was cancelled meanwhile).
  void launch(task_request req);
  /// POST /v1/chat/completions and GET /v1/models.
  void chat_completions(const http::request& req, const std::string& principal,
                        std::shared_ptr<http::reply> rep);
  /// JSON of a task (live or journaled).
  static json task_json(const journaled_task& meta,
                        const std::vector<json>& steps, const json& result,
                        bool finished, const json& under_way = nullptr);
  void evict_finished();

  serve_config serve_;
  std::shared_ptr<const guardrail::access_policy> access_;
  store::retention_settings retention_;
  std::unique_ptr<journal> journal_;
  std::unique_ptr<backend> backend_;
  const http::server* server_ = nullptr;
  std::unique_ptr<metrics> metrics_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::unordered_map<uint64_t, live_task> tasks_;
  std::deque<uint64_t> finished_order_;
  size_t active_ = 0;
  std::unordered_map<std::string, bucket> buckets_;
  /// Threads with a run going or waiting (guarded by mutex_).
  std::unordered_map<std::string, thread_runs> threads_;
  std::atomic<uint64_t> next_call_{1};
  std::atomic<bool> draining_{false};
  /// Guarded by mutex_.
  bool drain_cut_ = false;
  std::atomic<bool> journal_ends_{true};
};

} // namespace troupe::daemon
