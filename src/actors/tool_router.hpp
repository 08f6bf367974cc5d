#pragma once

// Routes tool calls over several tool nodes: each call goes to the node
// with the fewest calls pending (round robin among equals); a node that is
// lost is taken out at once (its pending calls fail with role_down, which
// the task runner retries elsewhere for idempotent tools) and reconnected
// with backoff, through a fresh connection, so it rejoins without stale
// routes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "cluster/nodes.hpp"
#include "core/config.hpp"

namespace troupe {

using cluster::tool_node_status;
using cluster::tool_nodes_view;

/// One tool node as the router knows it.
struct routed_node {
  std::string host;
  uint16_t port = 0;
  /// The remote executor (null while lost) and its local front.
  tool_executor_actor remote;
  tool_executor_actor front;
  tool_node_status status;
  std::chrono::milliseconds backoff{100};
  bool connecting = false;
};

struct tool_router_state {
  tool_router_state() = default;

  std::vector<routed_node> nodes;
  /// The middleman (or OpenSSL manager) that makes connections.
  caf::io::middleman_actor connector;
  std::chrono::milliseconds timeout{30000};
  std::shared_ptr<tool_nodes_view> view;
  size_t next = 0;
  bool ticking = false;

  static inline const char* name = "troupe.tool_router";
};

/// Where a tool node is, and its executor if already connected (null: not
/// reachable at start; the router keeps trying).
struct tool_node_address {
  std::string host;
  uint16_t port = 0;
  tool_executor_actor remote;
};

/// Spawns a router over `nodes`, reconnecting lost ones through `connector`
/// (each call gets `timeout` on its node). `view` (may be null) mirrors the
/// nodes' state for status and metrics.
tool_executor_actor::behavior_type
tool_router(tool_executor_actor::stateful_pointer<tool_router_state> self,
            std::vector<tool_node_address> nodes,
            caf::io::middleman_actor connector,
            std::chrono::milliseconds timeout,
            std::shared_ptr<tool_nodes_view> view);

/// Connects to the tool executor a `troupe node` publishes at `host:port`
/// (over TLS if `tls`), giving up after `timeout` (CAF's remote_actor would
/// wait forever on a peer that accepts the connection but never completes
/// the handshake).
caf::expected<tool_executor_actor>
connect_tool_node(caf::actor_system& sys, const std::string& host,
                  uint16_t port, std::chrono::milliseconds timeout, bool tls);

/// Connects to each of `nodes` ("host:port"; unreachable ones start lost
/// and are retried in the background) and spawns a router over them; fails
/// only if none can be reached.
caf::expected<tool_executor_actor>
spawn_tool_router(caf::actor_system& sys, const engine_config& cfg,
                  const std::vector<std::string>& nodes,
                  std::shared_ptr<tool_nodes_view> view);

} // namespace troupe
