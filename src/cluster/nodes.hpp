#pragma once

// What the engine knows of the tool nodes it routes calls to: for status,
// readiness and metrics. CAF-free.

#include <atomic>
#include <cstdint>
#include <memory>
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

/// The router's view of its nodes, readable from any thread. The counters
/// that change with every call are atomics the router bumps in place; the
/// rest (state, errors) is copied in only when it changes.
class tool_nodes_view {
public:
  struct counters {
    std::atomic<uint64_t> pending{0};
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> served{0};
    std::atomic<double> rtt_us{0};
  };

  /// Makes room for `n` nodes; call once, before the router runs.
  void resize(size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    nodes_.resize(n);
    while (counters_.size() < n)
      counters_.push_back(std::make_unique<counters>());
  }

  /// The counters of node `i` (see `resize`).
  counters& at(size_t i) {
    return *counters_[i];
  }

  std::vector<tool_node_status> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto out = nodes_;
    for (size_t i = 0; i < out.size() && i < counters_.size(); ++i) {
      auto& c = *counters_[i];
      out[i].pending = c.pending.load(std::memory_order_relaxed);
      out[i].sent = c.sent.load(std::memory_order_relaxed);
      out[i].served = c.served.load(std::memory_order_relaxed);
      out[i].rtt_us = c.rtt_us.load(std::memory_order_relaxed);
    }
    return out;
  }

  /// The states and errors of the nodes (the counters are left alone).
  void set(std::vector<tool_node_status> xs) {
    std::lock_guard<std::mutex> guard{mtx_};
    nodes_ = std::move(xs);
  }

private:
  mutable std::mutex mtx_;
  std::vector<tool_node_status> nodes_;
  std::vector<std::unique_ptr<counters>> counters_;
};

} // namespace troupe::cluster
