#pragma once

// Routers: what a node runs for a role it does not run itself (placement is
// local first: a role a node runs never goes through a router). A router
// speaks its role's interface and sends each request to a node that offers
// the role, the one it has the fewest requests waiting on (round robin among
// equals). Its routes come from the node's membership actor. It watches each
// route: when one is lost, the requests waiting on it fail at once with
// role_down (CAF would wait for their timeouts), and those that are safe to
// repeat (planning, recall, tool listing) go to another node instead. Tool
// calls are retried by the task runner, under their idempotency keys.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/typed_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/tool_executor.hpp"
#include "cluster/nodes.hpp"
#include "tools/tool.hpp"

namespace troupe {

/// The routes of every router: the members that offer its role, with their
/// handles (sent by the membership actor whenever they change).
using route_update = caf::reacts_to<routes_atom, std::vector<member_info>>;
/// Internal: time to fail the requests past the router's timeout.
using route_sweep = caf::reacts_to<tick_atom>;

using planner_router_actor = planner_actor::extend<route_update, route_sweep>;
using memory_router_actor = memory_actor::extend<route_update, route_sweep>;
using tool_router_actor =
  tool_executor_actor::extend<route_update, route_sweep,
                              /// Lists the tools of a node again and puts
                              /// them in the catalog (see `tool_slot`).
                              caf::reacts_to<reload_atom>>;

/// Where a tool router puts the tools the cluster offers: a group of an
/// engine's catalog, set once that engine has started.
class tool_slot {
public:
  void set(std::shared_ptr<tools::catalog> c) {
    std::lock_guard<std::mutex> guard{mtx_};
    catalog_ = std::move(c);
  }
  std::shared_ptr<tools::catalog> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return catalog_;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<tools::catalog> catalog_;
};

/// Spawns the router of `role` ("planner", "memory" or "tools"), counting
/// its requests per peer in `view` (which must already `need` the role, so
/// a wait for its routes cannot start before the router runs). A request
/// not answered within `timeout` fails with `timeout`. `slot` (tools only,
/// may be null) receives the tool list of each node that joins.
planner_router_actor
spawn_planner_router(caf::actor_system& sys,
                     std::shared_ptr<cluster::cluster_view> view,
                     std::chrono::milliseconds timeout);
memory_router_actor
spawn_memory_router(caf::actor_system& sys,
                    std::shared_ptr<cluster::cluster_view> view,
                    std::chrono::milliseconds timeout);
tool_router_actor spawn_tool_router(caf::actor_system& sys,
                                    std::shared_ptr<cluster::cluster_view> view,
                                    std::shared_ptr<tool_slot> slot,
                                    std::chrono::milliseconds timeout);

} // namespace troupe
