#include "cluster/node.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/directory.hpp"
#include "cluster/membership.hpp"
#include "core/endpoint.hpp"
#include "core/log.hpp"
#include "guardrail/approval.hpp"

namespace troupe {

caf::expected<std::unique_ptr<cluster_node>>
cluster_node::start(caf::actor_system& sys, const cluster::settings& cfg,
                    const struct timeouts& timeouts) {
  std::unique_ptr<cluster_node> out{new cluster_node};
  out->sys_ = &sys;
  out->tls_ = cfg.tls.enabled();
  out->view_ = std::make_shared<cluster::cluster_view>();
  out->local_ = std::make_shared<local_roles>();
  out->slot_ = std::make_shared<tool_slot>();
  auto& connector = out->tls_ ? sys.openssl_manager().actor_handle()
                              : sys.middleman().actor_handle();
  membership_config mc;
  mc.roles = cfg.roles;
  mc.seeds = cfg.seeds;
  mc.interval = cfg.gossip;
  mc.timeout = std::max(cfg.connection_timeout,
                        std::chrono::milliseconds{1000});
  mc.connector = connector;
  mc.view = out->view_;
  mc.local = out->local_;
  // Needed before the routers first run: a wait for routes that started
  // earlier would find nothing to wait for.
  for (auto& role : cluster::routable_roles())
    if (!cfg.runs(role))
      out->view_->need(role);
  if (!cfg.runs("planner")) {
    out->planner_ = spawn_planner_router(sys, out->view_, timeouts.task);
    mc.routers["planner"] = caf::actor_cast<caf::actor>(out->planner_);
  }
  if (!cfg.runs("memory")) {
    out->memory_ = spawn_memory_router(sys, out->view_, timeouts.task);
    mc.routers["memory"] = caf::actor_cast<caf::actor>(out->memory_);
  }
  if (!cfg.runs("tools")) {
    out->tools_ = spawn_tool_router(sys, out->view_, out->slot_, timeouts.tool);
    mc.routers["tools"] = caf::actor_cast<caf::actor>(out->tools_);
  }
  auto routers = mc.routers;
  auto stop_routers = [&] {
    for (auto& [role, r] : routers)
      caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  };
  std::optional<std::pair<std::string, uint16_t>> listen;
  if (!cfg.listen.empty()) {
    listen = parse_endpoint(cfg.listen);
    if (!listen) {
      stop_routers();
      return make_error(errc::invalid_config,
                        "cluster.listen: '" + cfg.listen +
                          "' is not HOST:PORT");
    }
  }
  // It reads its config on the first tick, sent once the config is
  // complete (after publishing, when the port is known).
  auto mcp = std::make_shared<membership_config>(std::move(mc));
  auto node =
    sys.spawn(membership, std::shared_ptr<const membership_config>{mcp});
  if (listen) {
    auto port = out->tls_ ? caf::openssl::publish(node, listen->second,
                                                  listen->first.c_str(), true)
                          : sys.middleman().publish(node, listen->second,
                                                    listen->first.c_str(),
                                                    true);
    if (!port) {
      stop_routers();
      caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
      return make_error(errc::invalid_config,
                        "cannot listen on " + cfg.listen + ": " +
                          sys.render(port.error()));
    }
    out->port_ = *port;
    mcp->where = cfg.advertise.empty()
                   ? listen->first + ":" + std::to_string(*port)
                   : cfg.advertise;
  }
  mcp->name = cfg.name;
  if (mcp->name.empty())
    mcp->name = !mcp->where.empty()
                  ? mcp->where
                  : "client-" +
                      guardrail::approval_key::random().hex().substr(0, 8);
  out->name_ = mcp->name;
  out->node_ = node;
  caf::anon_send(node, tick_atom::value);
  log::get()->info(R"("event":"cluster_node","name":{},"where":{},"seeds":{})",
                   log::quote(mcp->name), log::quote(mcp->where),
                   mcp->seeds.size());
  return out;
}

cluster_node::~cluster_node() {
  if (!node_)
    return;
  // A published actor keeps the actor system from exiting: unpublish,
  // then stop it.
  if (port_ != 0) {
    caf::scoped_actor self{*sys_};
    auto& via = tls_ ? sys_->openssl_manager().actor_handle()
                     : sys_->middleman().actor_handle();
    // CAF 0.17.6's caf::openssl::unpublish does not compile; this is what
    // it would send (the middleman takes the same message).
    self
      ->request(via, std::chrono::seconds{5}, caf::unpublish_atom::value,
                node_.address(), port_)
      .receive([] {}, [](caf::error&) {});
  }
  caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
  // The engine stops the routers it was given; these cover an engine that
  // never started.
  if (planner_)
    caf::anon_send_exit(planner_, caf::exit_reason::user_shutdown);
  if (memory_)
    caf::anon_send_exit(memory_, caf::exit_reason::user_shutdown);
  if (tools_)
    caf::anon_send_exit(tools_, caf::exit_reason::user_shutdown);
}

void cluster_node::route(engine_options& opts) const {
  if (planner_)
    opts.planner = planner_;
  if (memory_)
    opts.memory = memory_;
  if (tools_) {
    opts.tools = tools_;
    opts.tools_may_come_later = true;
  }
  // This node's roles go to the cluster as they start and restart; a
  // restart is announced at once, so peers route to the new instance. A
  // node that only dials out offers none: nobody could redial it.
  if (port_ == 0)
    return;
  auto prev = opts.on_role_start;
  opts.on_role_start = [local = local_, node = node_,
                        prev](const std::string& name, const caf::actor& h) {
    if (prev)
      prev(name, h);
    for (auto& role : cluster::routable_roles())
      if (role_index(name, role)) {
        local->put(name, h);
        caf::anon_send(node, reload_atom::value);
        return;
      }
  };
}

std::vector<std::string>
cluster_node::wait_for_routes(std::chrono::milliseconds timeout,
                              bool give_up) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> missing;
  for (auto& [role, n] : view_->routes())
    if (!view_->wait_for_route(role, deadline, give_up))
      missing.push_back(role);
  return missing;
}

void cluster_node::attach(const engine& eng) {
  local_->set_load([g = eng.gauges()] {
    uint64_t sum = 0;
    for (auto& [role, n] : g->snapshot())
      sum += n;
    return sum;
  });
  if (tools_) {
    slot_->set(eng.catalog());
    caf::anon_send(tools_, reload_atom::value);
  }
}

} // namespace troupe
