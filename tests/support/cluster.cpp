#include "support/cluster.hpp"

#include "runtime/runtime.hpp"

#include "actors/protocol.hpp"
#include "support/actors.hpp"

namespace troupe::test {

uint16_t port_in(const std::string& line) {
  // "… on HOST:PORT" or "… on HOST:PORT (TLS)".
  auto at = line.rfind(" on ");
  if (at == std::string::npos)
    return 0;
  auto where = line.substr(at + 4);
  where = where.substr(0, where.find(' '));
  auto ep = parse_endpoint(where);
  return ep ? ep->second : 0;
}

std::vector<std::string> node_command(const std::string& config,
                                      const std::string& listen,
                                      const std::string& roles,
                                      const std::string& seeds,
                                      std::vector<std::string> prefix) {
  auto out = std::move(prefix);
  for (auto& x : {cli_path(), std::string{"--config"}, config,
                  std::string{"node"}, std::string{"--listen"}, listen,
                  std::string{"--roles"}, roles})
    out.push_back(x);
  if (!seeds.empty()) {
    out.push_back("--seeds");
    out.push_back(seeds);
  }
  return out;
}

node_process start_node(const std::vector<std::string>& command,
                        std::chrono::milliseconds wait) {
  node_process out;
  out.proc = std::make_unique<child_process>(command);
  auto line = out.proc->wait_for_line(": serving ", wait);
  if (!line) {
    out.proc.reset();
    return out;
  }
  out.port = port_in(*line);
  return out;
}

engine_config tools_elsewhere(const std::string& seed) {
  auto cfg = test_config();
  cfg.cluster.seeds = {seed};
  cfg.cluster.roles = {"api", "planner", "memory"};
  return cfg;
}

caf::expected<cluster_engine> join_cluster(caf::actor_system& sys,
                                           const engine_config& cfg,
                                           const guardrail::approval_key& key) {
  engine_options opts;
  opts.approval_key = key;
  auto res = runtime::join(sys, cfg, std::move(opts),
                           runtime::route_wait::required, true);
  if (auto f = std::get_if<runtime::join_failure>(&res))
    return f->error;
  auto& j = std::get<runtime::joined>(res);
  cluster_engine out;
  out.node = std::move(j.node);
  out.eng = std::move(j.eng);
  return out;
}

} // namespace troupe::test
