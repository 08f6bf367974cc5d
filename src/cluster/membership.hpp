#pragma once

// Membership: the actor each node publishes on its cluster port. Nodes meet
// through seeds: a node says hello to a seed and gets back the seed's own
// entry (its roles, with their handles) and the addresses of every node the
// seed knows; it then says hello to each of those directly, so a cluster of
// N nodes forms from any one seed. Every `interval` a node pings its peers
// (network round trip, their load), gossips with one of them at random (so
// nodes that joined through different seeds find each other), and redials
// the lost ones with backoff. A lost peer's routes go at once, so requests to
// it fail (and move on) at once; a redial that reaches it again brings its
// new handles, never stale ones.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"
#include "cluster/nodes.hpp"

namespace troupe {

/// This node's own role handles (filled as its engine starts and restarts
/// roles) and its load; shared with the membership actor.
class local_roles {
public:
  void put(const std::string& instance, const caf::actor& h) {
    std::lock_guard<std::mutex> guard{mtx_};
    handles_[instance] = h;
  }
  std::map<std::string, caf::actor> handles() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return handles_;
  }
  void set_load(std::function<uint64_t()> f) {
    std::lock_guard<std::mutex> guard{mtx_};
    load_ = std::move(f);
  }
  uint64_t load() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return load_ ? load_() : 0;
  }

private:
  mutable std::mutex mtx_;
  std::map<std::string, caf::actor> handles_;
  std::function<uint64_t()> load_;
};

struct membership_config {
  /// This node: unique name, where it listens ("host:port"; empty if it
  /// only dials out) and the roles it offers.
  std::string name;
  std::string where;
  std::vector<std::string> roles;
  /// "host:port" of the nodes to join through.
  std::vector<std::string> seeds;
  /// How often to ping, gossip and redial.
  std::chrono::milliseconds interval{1000};
  /// How long a dial, hello or ping may take.
  std::chrono::milliseconds timeout{2000};
  /// The middleman (or the OpenSSL manager, for TLS) that dials.
  caf::io::middleman_actor connector;
  /// The router of each role this node does not run, fed the routes.
  std::map<std::string, caf::actor> routers;
  std::shared_ptr<cluster::cluster_view> view;
  std::shared_ptr<local_roles> local;
};

/// A peer as the membership actor knows it.
struct peer_entry {
  member_info info;
  bool up = false;
  double rtt_us = 0;
  uint64_t load = 0;
  uint64_t lost = 0;
  uint64_t rejoined = 0;
  std::string last_error;
};

/// An address to dial (a seed, a node heard of, a lost peer).
struct dial_entry {
  std::chrono::milliseconds backoff{100};
  std::chrono::steady_clock::time_point at;
  bool busy = false;
  std::string last_error;
};

struct membership_state {
  membership_state() = default;

  /// The config until the first tick reads it (see `membership`).
  std::shared_ptr<const membership_config> pending_cfg;
  bool started = false;
  membership_config cfg;
  member_info me;
  std::map<std::string, peer_entry> peers;
  std::map<std::string, dial_entry> dials;
  /// What each router was last sent, to send only changes.
  std::map<std::string, std::string> sent_routes;
  std::minstd_rand rng;

  static inline const char* name = "troupe.membership";
};

/// Reads `cfg` on its first `tick`: spawn it, publish it, fill in the
/// name and address (the port may have been 0), then send it `tick`. Until
/// then it answers hello and ping with `role_down` ("the node is
/// starting"), so an early peer backs off and dials again.
node_actor::behavior_type
membership(node_actor::stateful_pointer<membership_state> self,
           std::shared_ptr<const membership_config> cfg);

} // namespace troupe
