#include "cluster/network.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace troupe::cluster {

void configure_network(caf::actor_system_config& sys_cfg,
                       const settings& cfg) {
  sys_cfg.load<caf::io::middleman>();
  // CAF's heartbeats are off by default: without them a peer that hangs or
  // is cut off (no FIN, no RST) is never declared lost.
  if (cfg.heartbeat.count() > 0) {
    sys_cfg.set("middleman.heartbeat-interval",
                caf::timespan{cfg.heartbeat});
    sys_cfg.set("middleman.connection-timeout",
                caf::timespan{cfg.connection_timeout});
  }
  auto& tls = cfg.tls;
  if (tls.enabled()) {
    sys_cfg.openssl_certificate = tls.certificate.string();
    sys_cfg.openssl_key = tls.key.string();
    sys_cfg.openssl_cafile = tls.cafile.string();
    sys_cfg.load<caf::openssl::manager>();
  }
}

} // namespace troupe::cluster
