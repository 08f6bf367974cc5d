#pragma once

// The cluster's settings (key `cluster`). CAF-free.

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/result.hpp"

namespace troupe::cluster {

/// The roles a node can offer.
inline const std::vector<std::string>& known_roles() {
  static const std::vector<std::string> xs{"api", "planner", "memory",
                                           "tools"};
  return xs;
}

/// Where a node's TLS material is: its certificate (PEM, may hold the
/// chain), its private key (PEM), and the cluster CA it trusts.
struct tls_files {
  std::filesystem::path certificate;
  std::filesystem::path key;
  std::filesystem::path cafile;

  bool enabled() const {
    return !certificate.empty() || !key.empty() || !cafile.empty();
  }
};

/// This node in a cluster (key `cluster`).
struct settings {
  /// Its name (default: its advertised address).
  std::string name;
  /// Where it listens for other nodes ("host:port"; empty: it only dials
  /// out).
  std::string listen;
  /// The address the others should dial (default: `listen`).
  std::string advertise;
  /// Nodes to join through ("host:port"): any one node of the cluster is
  /// enough, the rest is learnt from it.
  std::vector<std::string> seeds;
  /// The roles this node runs: a role it leaves out is asked of the nodes
  /// that offer it.
  std::vector<std::string> roles{"api", "planner", "memory", "tools"};
  /// How often nodes ping and gossip.
  std::chrono::milliseconds gossip{1000};
  /// Heartbeats between nodes (0: off), and how long a peer may stay silent
  /// before it counts as lost.
  std::chrono::milliseconds heartbeat{500};
  std::chrono::milliseconds connection_timeout{2000};
  /// TLS between nodes: this node's certificate and key and the cluster
  /// CA. Set: every link between nodes is TLS with mutual authentication; a
  /// peer without a certificate from the CA is refused.
  tls_files tls;
  /// Listen on a non-loopback address without TLS (anyone who can reach
  /// the port can join): refused unless this says so.
  bool insecure = false;

  /// True if this node joins a cluster (it listens or has seeds).
  bool clustered() const {
    return !listen.empty() || !seeds.empty();
  }
  /// True if this node runs `role` itself.
  bool runs(std::string_view role) const {
    for (auto& r : roles)
      if (r == role)
        return true;
    return false;
  }
};

/// The declarations of the `cluster` keys.
const keys<settings>& settings_keys();

/// True if this node listens without TLS on an address other machines can
/// reach.
bool exposed(const settings& cfg);

/// Checks ranges, addresses, roles, heartbeats against the connection
/// timeout and that TLS has all its files.
result<bool> validate(const settings& cfg);

} // namespace troupe::cluster
