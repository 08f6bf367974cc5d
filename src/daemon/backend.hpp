#pragma once

// What the daemon's HTTP side needs from the engine, without CAF: it sends
// (never waits), and answers come back through `backend_events`, called on
// an actor's thread. `make_backend` (gateway.cpp) is the CAF side.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agents/catalog.hpp"
#include "cluster/nodes.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe {
class engine;
}

namespace caf {
class actor_system;
}

namespace troupe::daemon {

/// Where the engine's answers go (called from actor threads; must not
/// block).
class backend_events {
public:
  virtual ~backend_events() = default;
  /// Step `index` of task `id` began: its calls (no results yet).
  virtual void on_step_started(uint64_t id, uint64_t index,
                               const step_record& step) {
  }
  /// A piece of task `id`'s model text as it streams (filtered).
  virtual void on_token(uint64_t id, std::string delta) {
  }
  /// Step `index` of task `id` finished.
  virtual void on_step(uint64_t id, uint64_t index, const step_record& step) = 0;
  /// Task `result.id` ended.
  virtual void on_result(const task_result& result) = 0;
};

/// The engine's counters, for /metrics.
struct engine_counters {
  /// Restarts by role name.
  std::map<std::string, uint64_t> restarts;
  /// Events by kind name (`to_string(event_kind)`).
  std::map<std::string, uint64_t> events;
  /// Messages waiting in each role's mailbox.
  std::map<std::string, uint64_t> mailbox_depths;
  /// The local tool executor's counts, by kind (calls, failed, timeouts,
  /// cancelled, overloaded, cache_hits, cache_misses).
  std::map<std::string, uint64_t> tools;
  /// Per MCP server: 1 if ready, else 0.
  std::map<std::string, int> mcp_up;
};

class backend {
public:
  virtual ~backend() = default;

  /// Starts a task (its id set by the caller); steps and the result go to
  /// the events sink.
  virtual void run(task_request req) = 0;

  /// Cancels task `id`; `done(true)` if it was running.
  virtual void cancel(uint64_t id, std::function<void(bool)> done) = 0;

  /// Runs a memory tool (`memory_store` / `memory_recall`) for a principal:
  /// the memory role checks its permissions.
  virtual void memory_call(tool_invocation inv,
                           std::function<void(tool_result)> done) = 0;

  /// Asks agent `agent`'s model (its first provider) to complete
  /// `messages` offered no tools, as task `task_id` (the run it is for);
  /// `done` gets the text, through the output filter, or why not. For the
  /// engine's own needs: a thread's summary.
  /// (A backend without models, such as a test's, says so.)
  virtual void complete(const std::string& /*agent*/, uint64_t /*task_id*/,
                        std::vector<chat_message> /*messages*/,
                        std::function<void(result<std::string>)> done) {
    done(failure{errc::provider_failed, "no model behind this backend"});
  }

  /// The monitor's counters.
  virtual void counters(std::function<void(engine_counters)> done) = 0;

  /// Every permanent role is up and the engine has not given up; else why
  /// not.
  virtual std::string not_ready() const = 0;

  /// The tools offered to the model.
  virtual std::vector<tool_spec> tools() const = 0;

  /// The agents in force.
  virtual std::shared_ptr<const agents::catalog> agents() const = 0;

  /// The nodes of the cluster, this one first (empty: not clustered).
  virtual std::vector<cluster::peer_status> peers() const = 0;

  /// Each role this node leaves to others, with the nodes up offering it.
  virtual std::map<std::string, size_t> routes() const = 0;
};

/// The CAF side: a gateway actor in `sys` that talks to `eng`'s roles.
std::unique_ptr<backend> make_backend(caf::actor_system& sys, engine& eng,
                                      std::shared_ptr<backend_events> events,
                                      std::shared_ptr<cluster::cluster_view>
                                        cluster);


} // namespace troupe::daemon
