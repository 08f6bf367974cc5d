#pragma once

// What a node knows of its cluster, readable from any thread: the members
// (for status and metrics), the requests it sends each peer, and which roles
// it can route. CAF-free.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/settings.hpp"

namespace troupe::cluster {

/// The roles that another node can serve for this one.
inline const std::vector<std::string>& routable_roles() {
  static const std::vector<std::string> xs{"planner", "memory", "tools"};
  return xs;
}

/// What an operator sees of one node of the cluster.
struct peer_status {
  std::string name;
  /// "host:port" it listens on; empty for a node that only dials out.
  std::string where;
  std::vector<std::string> roles;
  /// "self", "up", "down" (lost or not reached; redialled with backoff).
  std::string state;
  /// Messages waiting in its roles' mailboxes, as it last said.
  uint64_t load = 0;
  /// Network round trip of a ping (moving average), in microseconds.
  double rtt_us = 0;
  /// Requests this node sent to it (any role), answers back, and waiting.
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t pending = 0;
  /// Times it was lost, and came back.
  uint64_t lost = 0;
  uint64_t rejoined = 0;
  std::string last_error;
  /// Down and tried: lost, or a dial to it failed (not merely not dialled
  /// yet).
  bool tried = false;
};

/// The request counters of one peer, bumped by the routers on the call
/// path (atomics: no lock, no copy).
struct peer_counters {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> pending{0};
};

class cluster_view {
public:
  /// The counters of peer `name`, made on first use; stable afterwards.
  std::shared_ptr<peer_counters> counters(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& p = counters_[name];
    if (!p)
      p = std::make_shared<peer_counters>();
    return p;
  }

  /// Replaces the members (this node first), keeping the counters.
  void set_members(std::vector<peer_status> xs) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      members_ = std::move(xs);
    }
    cv_.notify_all();
  }

  /// The members with their counters, this node first.
  std::vector<peer_status> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto out = members_;
    for (auto& m : out)
      if (auto i = counters_.find(m.name); i != counters_.end()) {
        m.sent = i->second->sent.load(std::memory_order_relaxed);
        m.received = i->second->received.load(std::memory_order_relaxed);
        m.pending = i->second->pending.load(std::memory_order_relaxed);
      }
    return out;
  }

  /// This node needs `role` from other nodes (it does not run it).
  void need(const std::string& role) {
    std::lock_guard<std::mutex> guard{mtx_};
    routes_.emplace(role, 0);
  }

  /// A router's count of nodes up that offer its role.
  void set_routes(const std::string& role, size_t n) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      routes_[role] = n;
    }
    cv_.notify_all();
  }

  /// Each role this node needs from others, with the nodes up offering it.
  std::map<std::string, size_t> routes() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return routes_;
  }

  /// Waits until `role` has a route, or `deadline`; true if it has one.
  /// With `give_up`, stops early once no peer is up and every address
  /// tried has failed (nothing left that could bring a route but a retry).
  bool wait_for_route(const std::string& role,
                      std::chrono::steady_clock::time_point deadline,
                      bool give_up = false) {
    std::unique_lock<std::mutex> guard{mtx_};
    auto routed = [&] {
      auto i = routes_.find(role);
      return i == routes_.end() || i->second > 0;
    };
    auto hopeless = [&] {
      bool any = false;
      for (auto& m : members_) {
        if (m.state == "self")
          continue;
        if (m.state == "up" || !m.tried)
          return false;
        any = true;
      }
      return any;
    };
    cv_.wait_until(guard, deadline,
                   [&] { return routed() || (give_up && hopeless()); });
    return routed();
  }

private:
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<peer_status> members_;
  std::map<std::string, std::shared_ptr<peer_counters>> counters_;
  std::map<std::string, size_t> routes_;
};

} // namespace troupe::cluster
