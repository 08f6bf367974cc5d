#include "daemon/serve.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include <pthread.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/engine.hpp"
#include "cluster/certs.hpp"
#include "cluster/node.hpp"
#include "cluster/network.hpp"
#include "core/log.hpp"
#include "daemon/service.hpp"
#include "store/store.hpp"
#include "runtime/runtime.hpp"

#include <spdlog/spdlog.h>

namespace troupe::daemon {

namespace {

using runtime::exit_failed;
using runtime::exit_ok;
using runtime::exit_usage;

/// Asks the guardrail to re-read its rules file; logs the outcome.
void reload_rules(caf::actor_system& sys, engine& eng) {
  if (eng.config().guardrail.rules_file.empty())
    return;
  auto guardrail = eng.guardrail();
  sys.spawn([guardrail](caf::event_based_actor* self) {
    self->request(guardrail, caf::infinite, reload_atom::value)
      .then(
        [](uint64_t n) {
          log::get()->info(R"("event":"rules_reloaded","rules":{})", n);
        },
        [](caf::error& err) {
          log::get()->error(R"("event":"rules_reload_failed","error":{})",
                            json(describe(err)).dump());
        });
  });
}

} // namespace

int serve(serve_options opts) {
  auto& cfg = opts.config;
  auto endpoint = parse_endpoint(cfg.serve.listen);
  if (!endpoint) {
    std::cerr << "troupe: serve.listen must be HOST:PORT, got '"
              << cfg.serve.listen << "'\n";
    return exit_usage;
  }
  if (cfg.data_dir.empty()) {
    std::cerr << "troupe: serve needs a data directory for its task journal\n";
    return exit_usage;
  }
  if (!cfg.log_level.empty())
    log::set_level(cfg.log_level);
  // Only the wait below sees these: block them before any thread starts.
  runtime::stop_signals signals{SIGINT, SIGTERM, SIGHUP};
  auto opened = store::open_store(cfg.store, cfg.data_dir, cfg.serve.durable,
                                  [](const char* v) { return std::getenv(v); });
  if (!opened) {
    std::cerr << "troupe: " << opened.error().message << "\n";
    return opened.error().code == errc::invalid_config ? exit_usage
                                                       : exit_failed;
  }
  auto svc = service::make(cfg, std::move(opened->journal));
  svc->set_store_pool(opened->pool);
  if (auto& var = cfg.serve.metrics_token_env; !var.empty()) {
    // Read once: a reload does not change it (restart to rotate it).
    auto* token = std::getenv(var.c_str());
    if (token == nullptr || std::strlen(token) < 16) {
      std::cerr << "troupe: serve.metrics_token_env names " << var
                << ", which is " << (token ? "shorter than 16 characters" : "not set")
                << ": set it to the token /metrics should require\n";
      return exit_usage;
    }
    svc->set_metrics_token(token);
  }
  if (!cfg.cluster.runs("api")) {
    std::cerr << "troupe: cluster.roles leaves out api, so this node takes "
                 "no tasks: run it with `troupe node`\n";
    return exit_usage;
  }
  runtime::app_spec spec;
  spec.key_missing = "a cluster node needs TROUPE_APPROVAL_KEY (64 hex "
                     "digits, the same on every node): tool nodes run only "
                     "calls a guardrail signed with it";
  // Not required: the daemon starts and stays not ready until a node
  // offering each missing role is up.
  spec.wait = runtime::route_wait::advisory;
  auto started = runtime::app::start(cfg, spec);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto& sys = app.system();
  auto* eng = &app.engine();
  auto* node = app.node();
  svc->attach(make_backend(sys, *eng, svc,
                           node ? node->view() : nullptr));
  // Unfinished tasks of an earlier run: resumed, or ended with the reason.
  if (auto r = svc->recover(); r.resumed + r.failed > 0) {
    log::get()->warn(R"("event":"tasks_recovered","resumed":{},"failed":{})",
                     r.resumed, r.failed);
    std::cout << "troupe: resumed " << r.resumed << " unfinished task(s), "
              << r.failed << " could not be resumed" << std::endl;
  }
  http::server_config hcfg;
  hcfg.host = endpoint->first;
  hcfg.port = endpoint->second;
  hcfg.io_threads = cfg.serve.io_threads;
  hcfg.max_body_bytes = cfg.serve.max_body_bytes;
  hcfg.max_connections = cfg.serve.max_connections;
  hcfg.io_timeout = cfg.serve.io_timeout;
  auto srv = http::server::start(
    hcfg, [svc](http::request req, std::shared_ptr<http::reply> rep) {
      svc->handle(std::move(req), std::move(rep));
    });
  if (!srv) {
    std::cerr << "troupe: " << srv.error().message << "\n";
    return exit_failed;
  }
  svc->set_server(srv->get());
  // Tests and scripts read the bound port from this line (--listen :0).
  std::cout << "troupe: serving on http://" << endpoint->first << ":"
            << (*srv)->port() << std::endl;
  log::get()->info(R"("event":"serving","port":{})", (*srv)->port());
  if (node && node->port() != 0)
    std::cout << "troupe: cluster node " << node->name() << " on port "
              << node->port() << std::endl;
  int sig = 0;
  for (;;) {
    sig = signals.wait();
    if (sig != SIGHUP)
      break;
    // Reload: an invalid file keeps the old config and says why.
    auto next = opts.reload ? opts.reload() : result<engine_config>{cfg};
    if (next) {
      if (auto ok = check(*next); !ok)
        next = ok.error();
    }
    if (!next) {
      log::get()->error(R"("event":"reload_failed","error":{})",
                        json(next.error().message).dump());
      std::cout << "troupe: reload failed, the old config stays: "
                << next.error().message << std::endl;
      continue;
    }
    // Agents first: they may name a provider the engine did not start
    // with, and then nothing changes.
    if (auto ok = eng->set_agents(*next); !ok) {
      log::get()->error(R"("event":"reload_failed","error":{})",
                        json(ok.error().message).dump());
      std::cout << "troupe: reload failed, the old config stays: "
                << ok.error().message << std::endl;
      continue;
    }
    svc->reconfigure(*next);
    eng->set_access(next->access);
    if (!next->log_level.empty())
      log::set_level(next->log_level);
    reload_rules(sys, *eng);
    log::get()->info(R"("event":"reloaded")");
    std::cout << "troupe: reloaded" << std::endl;
  }
  // Drain: not ready (so load balancers move on) and no new tasks, while
  // clients may still follow the tasks in flight, which run on until the
  // deadline; what is left stays in the journal.
  // Not ready first: whoever reads the line below finds it so.
  svc->begin_drain();
  auto active = svc->active();
  log::get()->info(R"("event":"draining","signal":{},"active":{})", sig,
                   active);
  std::cout << "troupe: draining " << active << " task(s)" << std::endl;
  // A second SIGTERM or SIGINT ends the drain at once: an operator (or an
  // orchestrator past its grace period) who will not wait. The watcher
  // thread is woken by a SIGHUP sent to it alone when the drain ends first.
  std::atomic<bool> drained{false};
  std::thread watcher{[&] {
    for (;;) {
      auto again = signals.wait();
      if (drained)
        return;
      if (again == SIGHUP)
        continue;
      log::get()->warn(R"("event":"drain_cut","signal":{})", again);
      std::cout << "troupe: signal " << again << " again, stopping now"
                << std::endl;
      svc->cut_drain();
      return;
    }
  }};
  bool idle = svc->wait_idle(std::chrono::steady_clock::now() +
                             cfg.serve.drain);
  drained = true;
  pthread_kill(watcher.native_handle(), SIGHUP);
  watcher.join();
  svc->stop_journaling_ends();
  auto left = idle ? 0 : svc->active();
  (*srv)->stop_accepting();
  srv->reset();
  svc->detach();
  // A thread that spawned actors holds CAF's logger until it ends, and the
  // actor system waits for the logger: the journal's writer thread (which
  // starts tasks) must end before the system does, after the last actor.
  app.stop();
  svc->close();
  std::cout << "troupe: stopped"
            << (left ? "; " + std::to_string(left) +
                         " unfinished task(s) stay in the journal"
                     : std::string{})
            << std::endl;
  return exit_ok;
}

} // namespace troupe::daemon
