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

namespace troupe {

/// What an operator sees of one tool node.
struct tool_node_status {
  std::string where; // "host:port"
  bool up = false;
  uint64_t pending = 0;
  /// Calls answered by this node.
  uint64_t served = 0;
  /// Times it was lost, and reconnected.
  uint64_t lost = 0;
  uint64_t rejoined = 0;
  std::string last_error;
};

/// The router's view of its nodes, readable from any thread.
class tool_nodes_view {
public:
  std::vector<tool_node_status> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return nodes_;
  }

  void set(std::vector<tool_node_status> xs) {
    std::lock_guard<std::mutex> guard{mtx_};
    nodes_ = std::move(xs);
  }

private:
  mutable std::mutex mtx_;
  std::vector<tool_node_status> nodes_;
};

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

} // namespace troupe
