#include "cli/options.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <curl/curl.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/engine.hpp"
#include "actors/tool_executor.hpp"
#include "cluster/node.hpp"
#include "cli/render.hpp"
#include "core/codec.hpp"
#include "config/config.hpp"
#include "cluster/certs.hpp"
#include "cluster/network.hpp"
#include "runtime/runtime.hpp"
#include "daemon/serve.hpp"
#include "core/log.hpp"
#include "memory/long_term.hpp"
#include "memory/tools.hpp"

#include <spdlog/spdlog.h>


namespace troupe::cli {

/// `troupe node`: a cluster node serving its roles until SIGINT/SIGTERM.
int node_command(const options& opts) {
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  if (!opts.listen.empty())
    ecfg.cluster.listen = opts.listen;
  if (ecfg.cluster.listen.empty())
    return usage_error("node needs --listen HOST:PORT (or cluster.listen): "
                       "where the other nodes reach it");
  if (!parse_endpoint(ecfg.cluster.listen))
    return usage_error("--listen expects HOST:PORT, got '" +
                       ecfg.cluster.listen + "'");
  // A node serves roles to others; tasks enter through `troupe serve` or
  // `troupe run`.
  std::erase(ecfg.cluster.roles, std::string{"api"});
  if (ecfg.cluster.roles.empty())
    return usage_error("node needs --roles with at least one of planner, "
                       "memory, tools");
  // Blocked before CAF (or an MCP server's thread) starts, so only the
  // wait below ever sees them.
  runtime::stop_signals signals{SIGINT, SIGTERM};
  runtime::app_spec spec;
  spec.node = true;
  spec.key_missing = "node needs TROUPE_APPROVAL_KEY (64 hex digits, the "
                     "same on every node): it runs only tool calls a "
                     "guardrail signed with that key (see troupe --help)";
  // The roles it runs, under the engine's supervisors (its MCP servers'
  // tools included); the others come from the cluster.
  auto started = runtime::app::start(ecfg, spec);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto node = app.node();
  std::string roles;
  for (auto& r : ecfg.cluster.roles)
    roles += (roles.empty() ? "" : ",") + r;
  auto host = parse_endpoint(ecfg.cluster.listen)->first;
  // Tests and scripts read the bound port from this line (--listen :0).
  std::cout << "troupe node " << node->name() << ": serving " << roles
            << " on " << host << ":" << node->port()
            << (ecfg.cluster.tls.enabled() ? " (TLS)" : "") << std::endl;
  log::get()->info(R"("event":"node_started","roles":{},"port":{})",
                   log::quote(roles), node->port());
  auto sig = signals.wait();
  log::get()->info(R"("event":"node_stopping","signal":{})", sig);
  app.stop();
  return exit_ok;
}

} // namespace troupe::cli
