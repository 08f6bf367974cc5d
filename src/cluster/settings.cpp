#include "cluster/settings.hpp"

#include <algorithm>

#include "core/endpoint.hpp"

namespace troupe::cluster {

namespace {

const keys<tls_files>& tls_keys() {
  static const auto table =
    keys<tls_files>{}
      .text("certificate", &tls_files::certificate,
            "this node's certificate (PEM, may hold the chain)")
      .text("key", &tls_files::key, "this node's private key (PEM)")
      .text("cafile", &tls_files::cafile, "the cluster CA (PEM)");
  return table;
}

} // namespace

const keys<settings>& settings_keys() {
  static const auto table =
    keys<settings>{}
      .retired("tool_nodes",
               "cluster.tool_nodes was replaced by cluster.seeds (the nodes "
               "to join) and cluster.roles (this node's roles: leave out "
               "\"tools\" to run tools on the nodes that offer them)")
      .millis("heartbeat_ms", &settings::heartbeat, 0, 60'000,
              "heartbeats between nodes (0: off)")
      .millis("connection_timeout_ms", &settings::connection_timeout, 10,
              600'000, "a peer silent this long is lost")
      .millis("gossip_ms", &settings::gossip, 10, 600'000,
              "how often nodes ping and gossip")
      .text("name", &settings::name,
            "this node's name (default: its advertised address)")
      .text("listen", &settings::listen,
            "HOST:PORT for other nodes (empty: only dial out)")
      .text("advertise", &settings::advertise,
            "the address others should dial (default: listen)")
      .list("seeds", &settings::seeds,
            "nodes to join through (a list, or \"a:1,b:2\")", true)
      .list("roles", &settings::roles,
            "roles this node runs: api, planner, memory, tools", true)
      .section("tls", &settings::tls, tls_keys(),
               "TLS between nodes: certificate, key, cafile")
      .flag("insecure", &settings::insecure,
            "allow listening on a non-loopback address without TLS");
  return table;
}

bool exposed(const settings& cfg) {
  if (cfg.listen.empty() || cfg.tls.enabled())
    return false;
  auto ep = parse_endpoint(cfg.listen);
  return ep && !loopback_host(ep->first);
}

result<bool> validate(const settings& cfg) {
  if (auto f = settings_keys().check(cfg, "cluster"))
    return *f;
  for (auto& n : cfg.seeds)
    if (!parse_endpoint(n))
      return config_error("cluster.seeds: '" + n + "' is not HOST:PORT");
  if (!cfg.listen.empty() && !parse_endpoint(cfg.listen))
    return config_error("cluster.listen: '" + cfg.listen + "' is not HOST:PORT");
  if (!cfg.advertise.empty() && !parse_endpoint(cfg.advertise))
    return config_error("cluster.advertise: '" + cfg.advertise +
                        "' is not HOST:PORT");
  if (cfg.roles.empty())
    return config_error("cluster.roles must name at least one of api, planner, "
                        "memory, tools");
  auto& known = known_roles();
  for (auto i = cfg.roles.begin(); i != cfg.roles.end(); ++i) {
    if (std::find(known.begin(), known.end(), *i) == known.end())
      return config_error("cluster.roles: unknown role '" + *i +
                          "' (known: api, planner, memory, tools)");
    if (std::find(cfg.roles.begin(), i, *i) != i)
      return config_error("cluster.roles: '" + *i + "' is named twice");
  }
  if (cfg.name.size() > 128)
    return config_error("cluster.name is longer than 128 characters");
  if (cfg.heartbeat.count() > 0 &&
      cfg.connection_timeout <= cfg.heartbeat)
    return config_error("cluster.connection_timeout_ms (" +
                        std::to_string(cfg.connection_timeout.count()) +
                        ") must be longer than cluster.heartbeat_ms (" +
                        std::to_string(cfg.heartbeat.count()) + ")");
  if (auto& t = cfg.tls;
      t.enabled() && (t.certificate.empty() || t.key.empty() || t.cafile.empty()))
    return config_error("cluster.tls needs all of certificate, key and cafile");
  return true;
}

} // namespace troupe::cluster
