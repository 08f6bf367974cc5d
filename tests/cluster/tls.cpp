// A tool node and an engine linked over TLS with mutual authentication
// (CAF's OpenSSL module): the real binaries on 127.0.0.1.

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cluster/certs.hpp"
#include "guardrail/approval.hpp"
#include "support/cluster.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono_literals;

namespace {

/// A config file whose cluster.tls names `node`'s files in `certs` and
/// `ca`'s CA.
std::string tls_config(const temp_dir& dir, const std::string& name,
                       const std::filesystem::path& certs,
                       const std::string& node,
                       const std::filesystem::path& ca) {
  auto path = dir.path / (name + ".json");
  std::ofstream{path} << nlohmann::json{
    {"cluster",
     {{"tls",
       {{"certificate", (certs / (node + ".pem")).string()},
        {"key", (certs / (node + ".key")).string()},
        {"cafile", (ca / "ca.pem").string()}}}}}};
  return path.string();
}

} // namespace

TEST_CASE("nodes link over mutual TLS; a node without a valid certificate "
          "cannot join",
          "[cluster][tls][cli]") {
  temp_dir dir{"tls"};
  auto certs = dir.path / "certs";
  auto other = dir.path / "other";
  REQUIRE(cluster::generate_certs(certs, {"tools", "engine"}));
  REQUIRE(cluster::generate_certs(other, {"intruder"}));
  setenv("TROUPE_APPROVAL_KEY",
         guardrail::approval_key::random().hex().c_str(), 1);
  child_process node{{cli_path(), "--config",
                      tls_config(dir, "node", certs, "tools", certs), "node",
                      "--roles", "tools", "--listen", "127.0.0.1:0"}};
  auto line = node.wait_for_line("serving tools on", 20s);
  REQUIRE(line);
  CHECK_THAT(*line, Catch::Contains("(TLS)"));
  auto at = "127.0.0.1:" + std::to_string(port_in(*line));
  auto run = [&](std::vector<std::string> config) {
    std::vector<std::string> args{cli_path()};
    args.insert(args.end(), config.begin(), config.end());
    for (auto a : {"run", "--tools"})
      args.push_back(a);
    args.push_back(at);
    args.push_back("What is 40 + 2?");
    return run_process(args, 20s);
  };
  // A node with a certificate from the cluster CA runs its tools there.
  auto ok = run({"--config", tls_config(dir, "engine", certs, "engine", certs)});
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, Catch::Contains("42"));
  // A certificate from another CA: refused during the handshake, at once.
  auto foreign =
    run({"--config", tls_config(dir, "intruder", other, "intruder", other)});
  CHECK(foreign.exit_code == 1);
  CHECK_FALSE(foreign.timed_out);
  CHECK_THAT(foreign.err, Catch::Contains("no node offering the tools role could be reached"));
  // Trusting the right CA does not help without a certificate it signed.
  auto half =
    run({"--config", tls_config(dir, "half", other, "intruder", certs)});
  CHECK(half.exit_code == 2);
  CHECK_THAT(half.err, Catch::Contains("is not valid under CA"));
  // No TLS at all.
  auto plain = run({});
  CHECK(plain.exit_code == 1);
  CHECK_THAT(plain.err, Catch::Contains("no node offering the tools role could be reached"));
  // The node shrugged all that off and still serves the cluster.
  auto again =
    run({"--config", tls_config(dir, "engine", certs, "engine", certs)});
  CHECK(again.exit_code == 0);
  REQUIRE(node.stop(SIGTERM, 10s));
  CHECK(node.exit_code() == 0);
  unsetenv("TROUPE_APPROVAL_KEY");
}
