#pragma once

// Test support for clusters: `troupe node` processes on 127.0.0.1, and an
// engine in the test's own actor system that joins them.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/engine.hpp"
#include "cluster/node.hpp"
#include "config/config.hpp"
#include "guardrail/approval.hpp"
#include "support/subprocess.hpp"

namespace troupe::test {

/// The port at the end of a "… on HOST:PORT[ (TLS)]" line.
uint16_t port_in(const std::string& line);

/// A `troupe node` process (its stdout line read: it listens).
struct node_process {
  std::unique_ptr<child_process> proc;
  uint16_t port = 0;

  std::string where() const {
    return "127.0.0.1:" + std::to_string(port);
  }
};

/// The command line of a node: `--config config node --listen listen
/// --roles roles [--seeds seeds]`, prefixed with `prefix` (e.g. `ip netns
/// exec NS`).
std::vector<std::string> node_command(const std::string& config,
                                      const std::string& listen,
                                      const std::string& roles,
                                      const std::string& seeds = {},
                                      std::vector<std::string> prefix = {});

/// Starts a node and waits (up to `wait`) until it listens; the process is
/// null if it did not.
node_process start_node(const std::vector<std::string>& command,
                        std::chrono::milliseconds wait = std::chrono::seconds{
                          30});

/// An engine that joined a cluster: the node goes after the engine.
struct cluster_engine {
  std::unique_ptr<cluster_node> node;
  std::unique_ptr<engine> eng;
};

/// A test config (see `test_config`) that joins the cluster through
/// `seed` and leaves the tools to the nodes that offer them.
engine_config tools_elsewhere(const std::string& seed);

/// Starts `cfg`'s cluster node in `sys` (network layer needed), waits (up
/// to `timeouts.role`) for routes to the roles it leaves to others, then
/// starts the engine on them, signing tool calls with `key`.
caf::expected<cluster_engine> join_cluster(caf::actor_system& sys,
                                           const engine_config& cfg,
                                           const guardrail::approval_key& key);

} // namespace troupe::test
