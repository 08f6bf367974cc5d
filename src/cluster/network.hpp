#pragma once

// The network layer of an actor system that links to other nodes: CAF's
// middleman (BASP over TCP), heartbeats so a silent peer is declared lost,
// and TLS with mutual authentication when `cluster.tls` is set.

#include <caf/actor_system_config.hpp>

#include "cluster/settings.hpp"

namespace troupe::cluster {

/// Loads the middleman into `sys_cfg` and applies `cfg`: heartbeats
/// every `heartbeat_ms` and a peer that sends nothing for
/// `connection_timeout_ms` is lost (its actors' down messages fire, so
/// requests to it fail at once); CAF's OpenSSL module if TLS is set (check
/// the files first with `check`).
void configure_network(caf::actor_system_config& sys_cfg,
                       const settings& cfg);

} // namespace troupe::cluster
