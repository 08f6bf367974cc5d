#pragma once

// A node's place in a cluster: its membership actor (published on
// `cluster.listen`, joining through `cluster.seeds`) and a router for each
// role it does not run itself. The engine takes the routers in place of
// those roles; the task runner never knows where a role lives.
//
//   auto node = cluster_node::start(sys, cfg.cluster, cfg.timeouts);      // dials the seeds
//   engine_options opts;
//   (*node)->route(opts);                           // roles from others
//   (*node)->wait_for_routes(5s);                   // optional
//   auto eng = engine::start(sys, cfg, std::move(opts));
//   (*node)->attach(**eng);                         // offer ours

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/engine.hpp"
#include "cluster/router.hpp"
#include "cluster/nodes.hpp"
#include "actors/settings.hpp"
#include "cluster/settings.hpp"

namespace troupe {

class local_roles;

class cluster_node {
public:
  /// Spawns the routers of the roles `cfg.roles` leaves out and the
  /// membership actor, publishes it on `cfg.listen` (TLS if
  /// `cluster.tls` is set) and starts dialling the seeds. The actor system
  /// must have the network layer (`cluster::configure_network`).
  static caf::expected<std::unique_ptr<cluster_node>>
  start(caf::actor_system& sys, const cluster::settings& cfg,
        const struct timeouts& timeouts);

  ~cluster_node();

  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  /// Gives `opts` the routers (and a hook that offers the engine's roles to
  /// the cluster as they start and restart).
  void route(engine_options& opts) const;

  /// Waits until each role this node needs from others has a route, at
  /// most `timeout`: the roles still without one. With `give_up`, stops
  /// early once every address tried has failed and no peer is up.
  std::vector<std::string> wait_for_routes(std::chrono::milliseconds timeout,
                                           bool give_up = false);

  /// Offers `eng`'s load to the cluster and puts the tools of the cluster's
  /// tool nodes in its catalog.
  void attach(const engine& eng);

  /// The port the membership actor listens on (0 if it only dials out).
  uint16_t port() const {
    return port_;
  }

  const std::string& name() const {
    return name_;
  }

  const std::shared_ptr<cluster::cluster_view>& view() const {
    return view_;
  }

  /// The membership actor.
  const node_actor& handle() const {
    return node_;
  }

private:
  cluster_node() = default;

  caf::actor_system* sys_ = nullptr;
  bool tls_ = false;
  std::string name_;
  uint16_t port_ = 0;
  node_actor node_;
  planner_router_actor planner_;
  memory_router_actor memory_;
  tool_router_actor tools_;
  std::shared_ptr<tool_slot> slot_;
  std::shared_ptr<local_roles> local_;
  std::shared_ptr<cluster::cluster_view> view_;
};

} // namespace troupe
