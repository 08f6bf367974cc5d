#include "runtime/runtime.hpp"

#include <iostream>

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "actors/protocol.hpp"
#include "cluster/certs.hpp"
#include "cluster/network.hpp"
#include "core/log.hpp"
#include "guardrail/approval.hpp"

namespace troupe::runtime {

stop_signals::stop_signals(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (auto s : signals)
    sigaddset(&set_, s);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int stop_signals::wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

joined::~joined() {
  // The engine's roles first: the node's routers serve them.
  eng.reset();
  node.reset();
}

std::variant<joined, join_failure> join(caf::actor_system& sys,
                                        const engine_config& cfg,
                                        engine_options opts, route_wait wait,
                                        bool always_node) {
  joined out;
  if (always_node || cfg.cluster.clustered()) {
    auto started = cluster_node::start(sys, cfg.cluster, cfg.timeouts);
    if (!started)
      return join_failure{join_failure::node, std::move(started.error())};
    out.node = std::move(*started);
    out.node->route(opts);
    if (wait != route_wait::none) {
      auto required = wait == route_wait::required;
      auto missing = out.node->wait_for_routes(cfg.timeouts.role, required);
      if (!required) {
        for (auto& role : missing)
          log::get()->warn(R"("event":"no_route_yet","role":{})",
                           log::quote(role));
      } else if (!missing.empty()) {
        std::string why;
        for (auto& p : out.node->view()->snapshot())
          if (p.state == "down")
            why += "; " + p.name + ": " + p.last_error;
        return join_failure{join_failure::routes,
                            make_error(errc::role_down,
                                       "no node offering the " +
                                         missing.front() +
                                         " role could be reached" + why)};
      }
    }
  }
  auto eng = engine::start(sys, cfg, std::move(opts));
  if (!eng)
    return join_failure{join_failure::engine, std::move(eng.error())};
  out.eng = std::move(*eng);
  if (out.node)
    out.node->attach(*out.eng);
  return out;
}

int exit_code_of(const caf::error& err) {
  return code_of(err) == errc::invalid_config ? exit_usage : exit_failed;
}

std::variant<std::unique_ptr<app>, int>
app::start(const engine_config& cfg, const app_spec& spec,
           engine_options opts) {
  auto fail = [](const std::string& why, int code) {
    std::cerr << "troupe: " << why << "\n";
    return code;
  };
  auto clustered = spec.node || cfg.cluster.clustered();
  if (clustered || spec.key_unclustered) {
    auto key = guardrail::approval_key_from_env();
    if (!key)
      return fail(key.error().message, exit_usage);
    if (clustered && !*key)
      return fail(spec.key_missing, exit_usage);
    opts.approval_key = *key;
  }
  // CAF's OpenSSL module throws from its I/O thread on a file it cannot
  // use: check the files first.
  if (clustered && cfg.cluster.tls.enabled())
    if (auto ok = cluster::check(cfg.cluster.tls); !ok)
      return fail("cluster.tls: " + ok.error().message, exit_usage);
  // Checked here, after the command line had its say (--listen).
  if (clustered && cluster::exposed(cfg.cluster) && !cfg.cluster.insecure)
    return fail("cluster.listen " + cfg.cluster.listen +
                  " is reachable from other machines, and without cluster.tls "
                  "anyone who can reach it can join the cluster and run its "
                  "tools: set cluster.tls (docs/cluster.md), listen on "
                  "127.0.0.1, or set cluster.insecure: true to accept that",
                exit_usage);
  if (clustered && cluster::exposed(cfg.cluster)) {
    // On stderr whatever the log level: an operator must see it.
    std::cerr << "troupe: warning: cluster.insecure is set: cluster.listen "
              << cfg.cluster.listen
              << " is reachable from other machines without TLS\n";
    log::get()->warn(
      R"("event":"cluster_insecure","listen":{},"why":"cluster.insecure is set: nodes talk without TLS on an address other machines can reach")",
      log::quote(cfg.cluster.listen));
  }
  std::unique_ptr<app> out{new app};
  out->sys_cfg_ = std::make_unique<caf::actor_system_config>();
  register_types(*out->sys_cfg_);
  if (clustered)
    cluster::configure_network(*out->sys_cfg_, cfg.cluster);
  out->sys_ = std::make_unique<caf::actor_system>(*out->sys_cfg_);
  auto res = join(*out->sys_, cfg, std::move(opts), spec.wait, spec.node);
  if (auto f = std::get_if<join_failure>(&res)) {
    auto why = describe(f->error);
    switch (f->step) {
      case join_failure::node:
        return fail(why, spec.node_failed_exit);
      case join_failure::routes:
        return fail(why, exit_failed);
      case join_failure::engine:
        return fail(why, exit_code_of(f->error));
    }
  }
  out->joined_ = std::move(std::get<joined>(res));
  return out;
}

void app::stop() {
  joined_.eng.reset();
  joined_.node.reset();
  if (sys_)
    sys_->await_all_actors_done();
}

app::~app() = default;

} // namespace troupe::runtime
