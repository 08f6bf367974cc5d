#pragma once

// A test cluster CA and per-node certificates (`troupe cluster gen-certs`),
// and the checks that keep a bad TLS setup from reaching CAF's OpenSSL
// module (which throws from its I/O thread on a file it cannot load).
// CAF-free.

#include <filesystem>
#include <string>
#include <vector>

#include "cluster/settings.hpp"
#include "core/result.hpp"

namespace troupe::cluster {

/// Writes a new cluster CA (`ca.pem`, `ca.key`) and, for each name in
/// `nodes`, `<name>.pem` and `<name>.key` signed by it, into `dir`
/// (created if missing). Keys are EC P-256, written with mode 0600;
/// certificates are valid for `days`. Fails with `invalid_config` naming
/// the file it cannot write, or a bad node name.
result<bool> generate_certs(const std::filesystem::path& dir,
                            const std::vector<std::string>& nodes,
                            int days = 365);

/// Checks `x` before a node uses it: all three files set and readable, the
/// key matching the certificate, and the certificate signed by the CA and
/// currently valid. Fails with `invalid_config` saying which and why.
result<bool> check(const tls_files& x);

} // namespace troupe::cluster
