#pragma once

// One start-up path for every Troupe process (in the manner of Seastar's
// app_template): the stop signals, the TLS check, the approval key, the
// network layer, the actor system, the cluster node, the engine and the
// exit codes. `troupe run`, `troupe node` and `troupe serve` each say only
// what differs (an `app_spec`); an embedder with its own actor system uses
// `join`.

#include <chrono>
#include <csignal>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "actors/engine.hpp"
#include "cluster/node.hpp"
#include "config/config.hpp"

namespace troupe::runtime {

/// The exit codes of every `troupe` command.
inline constexpr int exit_ok = 0;
/// The task failed or was rejected, or the process could not start.
inline constexpr int exit_failed = 1;
/// Bad usage, config or environment.
inline constexpr int exit_usage = 2;
/// The engine's root supervisor gave up.
inline constexpr int exit_engine_down = 3;

/// Signals blocked in every thread from construction on (create it before
/// any thread starts), so that only `wait` ever sees them.
class stop_signals {
public:
  explicit stop_signals(std::initializer_list<int> signals);
  /// Blocks until one of the signals arrives; returns it.
  int wait();

private:
  sigset_t set_;
};

/// How a process waits for the roles it leaves to other nodes.
enum class route_wait {
  /// Not at all (a node: the roles come and go).
  none,
  /// Up to `timeouts.role`, logging the roles still missing (the daemon:
  /// it stays not ready until they come).
  advisory,
  /// Up to `timeouts.role`; a role still missing is an error (one task).
  required,
};

/// An engine joined to its cluster: the node (null when not clustered)
/// and the engine. Destroyed engine first, then node.
struct joined {
  std::unique_ptr<cluster_node> node;
  std::unique_ptr<engine> eng;

  joined() = default;
  joined(joined&&) = default;
  joined& operator=(joined&&) = default;
  ~joined();
};

/// Why `join` failed: at which step, and the error.
struct join_failure {
  enum step_t { node, routes, engine } step;
  caf::error error;
};

/// The one sequence: starts the cluster node if `cfg` is clustered (or
/// `always_node`), routes the roles it leaves out, waits for them as `wait`
/// says, starts the engine and attaches the node to it. The actor system
/// must have the network layer when clustered (`cluster::configure_network`).
std::variant<joined, join_failure> join(caf::actor_system& sys,
                                        const engine_config& cfg,
                                        engine_options opts, route_wait wait,
                                        bool always_node = false);

/// What differs between the processes that `app` starts.
struct app_spec {
  /// Always a cluster node (`troupe node`), not only when clustered.
  bool node = false;
  /// Read TROUPE_APPROVAL_KEY even when not clustered (the engine then
  /// signs with it); when clustered it is always read and required.
  bool key_unclustered = false;
  /// The error when the key is required and missing.
  std::string key_missing;
  route_wait wait = route_wait::none;
  /// The exit code when the cluster node cannot start.
  int node_failed_exit = exit_failed;
};

/// A process's actor system with an engine in it, joined to its cluster.
class app {
public:
  /// Starts `cfg` as `spec` says. On failure prints "troupe: <why>" to
  /// stderr and returns the exit code.
  static std::variant<std::unique_ptr<app>, int>
  start(const engine_config& cfg, const app_spec& spec,
        engine_options opts = {});

  ~app();

  caf::actor_system& system() {
    return *sys_;
  }
  troupe::engine& engine() {
    return *joined_.eng;
  }
  /// The cluster node, or null.
  cluster_node* node() {
    return joined_.node.get();
  }

  /// Stops the engine and the node and waits until every actor is done;
  /// the system itself ends with the app.
  void stop();

private:
  app() = default;

  std::unique_ptr<caf::actor_system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  joined joined_;
};

/// The exit code of an engine that failed to start with `err`: bad usage
/// for a config error, else a failure.
int exit_code_of(const caf::error& err);

} // namespace troupe::runtime
