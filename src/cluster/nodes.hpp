#pragma once

// What the engine knows of the tool nodes it routes calls to: for status,
// readiness and metrics. CAF-free.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace troupe::cluster {

/// What an operator sees of one tool node.
struct tool_node_status {
  std::string where; // "host:port"
  bool up = false;
  uint64_t pending = 0;
  /// Calls sent to this node, and answered by it.
  uint64_t sent = 0;
  uint64_t served = 0;
  /// Round-trip time of its calls (moving average), in microseconds.
  double rtt_us = 0;
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

} // namespace troupe::cluster
