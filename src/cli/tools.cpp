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

namespace {

/// The engine config and the local tool registry the options describe.
struct local_setup {
  engine_config config;
  std::shared_ptr<tools::catalog> tools;
};

result<local_setup> make_local_setup(const options& opts) {
  auto ecfg = engine_config_from(opts);
  if (!ecfg)
    return ecfg.error();
  auto reg = make_tool_registry(*ecfg, {});
  if (!reg)
    return reg.error();
  return local_setup{std::move(*ecfg),
                     std::make_shared<tools::catalog>(std::move(*reg))};
}

/// `troupe tools [list]`: the built-in tools, the configured MCP servers'
/// (started for the listing) and memory's, with their schemas.
int list_tools(const options& opts) {
  auto setup = make_local_setup(opts);
  if (!setup) {
    std::cerr << "troupe: " << setup.error().message << "\n";
    return exit_usage;
  }
  auto servers = start_mcp_servers(setup->config, setup->tools);
  auto specs = setup->tools->snapshot()->specs();
  for (auto& s : memory::tool_specs())
    specs.push_back(s);
  for (auto& srv : servers) {
    auto st = srv->status();
    if (st.state != mcp::server_state::ready)
      std::cerr << "troupe: MCP server '" << st.name << "' is "
                << mcp::to_string(st.state)
                << (st.last_error.empty() ? "" : ": " + st.last_error)
                << "; its tools are missing\n";
  }
  if (opts.json) {
    std::cout << to_json(specs).dump(2, ' ', false,
                                     json::error_handler_t::replace)
              << "\n";
    return exit_ok;
  }
  for (auto& s : specs) {
    std::string perms;
    for (auto& p : s.permissions)
      perms += (perms.empty() ? "" : ",") + p;
    std::cout << s.name << "\t" << s.description << "\n"
              << "  needs: " << (perms.empty() ? "-" : perms)
              << (s.idempotent ? "; idempotent" : "")
              << "; timeout " << s.timeout_ms << " ms"
              << (s.cache_ttl_ms > 0
                    ? "; cached " + std::to_string(s.cache_ttl_ms) + " ms"
                    : "")
              << "\n  arguments: " << s.parameters << "\n";
  }
  return exit_ok;
}

/// `troupe tools call NAME JSON`: one call as the command line's principal
/// would make it, through the guardrail (permissions) and the executor
/// (schema, deadline). The tool's output (or error) goes to stdout as JSON.
int call_tool(const options& opts) {
  if (opts.positional.size() < 2 || opts.positional.size() > 3)
    return usage_error("tools call takes a tool name and its arguments as "
                       "JSON, e.g. tools call calculator "
                       "'{\"expression\":\"1+1\"}'");
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  auto cfg = make_config();
  caf::actor_system sys{cfg};
  auto eng = engine::start(sys, ecfg);
  if (!eng) {
    std::cerr << "troupe: " << describe(eng.error()) << "\n";
    return code_of(eng.error()) == errc::invalid_config ? exit_usage
                                                        : exit_task_failed;
  }
  tool_call call{"cli_1", opts.positional[1],
                 opts.positional.size() == 3 ? opts.positional[2] : "{}"};
  tool_invocation inv{call, 0, opts.session, "cli", opts.agent};
  tool_result out;
  caf::error err;
  caf::scoped_actor self{sys};
  auto deadline = ecfg.timeouts.tool + std::chrono::seconds{5};
  if (memory::is_memory_tool(call.name)) {
    self->request((*eng)->memory(), deadline, call_atom::value, inv)
      .receive([&](tool_result& r) { out = std::move(r); },
               [&](caf::error& e) { err = std::move(e); });
  } else {
    self->request((*eng)->guardrail(), deadline, authorize_atom::value, inv)
      .receive([&](tool_invocation& approved) { inv = std::move(approved); },
               [&](caf::error& e) { err = std::move(e); });
    if (!err)
      self->request((*eng)->tools(), deadline, call_atom::value, inv)
        .receive([&](tool_result& r) { out = std::move(r); },
                 [&](caf::error& e) { err = std::move(e); });
  }
  if (err) {
    auto code = code_of(err);
    std::cout << error_json({code == errc::unspecified ? errc::tool_failed
                                                       : code,
                             describe(err)})
              << "\n";
    std::cerr << "troupe: " << describe(err) << "\n";
    return exit_task_failed;
  }
  auto value = parse_json(out.output, "the tool's output");
  std::cout << (value ? *value : json(out.output))
                 .dump(2, ' ', false, json::error_handler_t::replace)
            << "\n";
  return out.ok ? exit_ok : exit_task_failed;
}

} // namespace

int tools_command(const options& opts) {
  if (opts.positional.empty() || opts.positional[0] == "list") {
    if (opts.positional.size() > 1)
      return usage_error("tools list takes no arguments");
    return list_tools(opts);
  }
  if (opts.positional[0] == "call")
    return call_tool(opts);
  return usage_error("unknown tools command '" + opts.positional[0] +
                     "' (list, call)");
}

} // namespace troupe::cli
