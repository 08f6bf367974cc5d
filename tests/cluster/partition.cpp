// A real partition: the tool node runs in its own network namespace behind
// a veth pair; cutting the link must be noticed (heartbeats), and healing
// it must bring the node back (reconnection).

#include <cstdlib>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/cluster.hpp"
#include "support/actors.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// Where iproute2's `ip` is (child_process does not search PATH).
std::string ip_program() {
  for (auto p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0)
      return p;
  return "ip";
}

/// Runs a shell command; true if it exited 0.
bool sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

/// A network namespace linked to this one by a veth pair, removed (with
/// the pair) when it goes.
struct netns {
  std::string name;
  std::string host_if;
  std::string host_ip;
  std::string ns_ip;
  bool made = false;

  netns() {
    auto id = std::to_string(::getpid() % 100000);
    name = "troupe-p" + id;
    host_if = "tp" + id + "a";
    auto ns_if = "tp" + id + "b";
    auto net = "10.201." + std::to_string(::getpid() % 250);
    host_ip = net + ".1";
    ns_ip = net + ".2";
    sh("ip netns del " + name);
    made = sh("ip netns add " + name) &&
           sh("ip link add " + host_if + " type veth peer name " + ns_if) &&
           sh("ip link set " + ns_if + " netns " + name) &&
           sh("ip addr add " + host_ip + "/30 dev " + host_if) &&
           sh("ip link set " + host_if + " up") &&
           sh("ip netns exec " + name + " ip addr add " + ns_ip + "/30 dev " +
              ns_if) &&
           sh("ip netns exec " + name + " ip link set " + ns_if + " up") &&
           sh("ip netns exec " + name + " ip link set lo up");
  }

  ~netns() {
    sh("ip link del " + host_if);
    sh("ip netns del " + name);
  }

  bool cut() {
    return sh("ip link set " + host_if + " down");
  }

  bool heal() {
    return sh("ip link set " + host_if + " up");
  }
};

} // namespace

TEST_CASE("a partition is noticed and healed: cut the link, the node is "
          "lost; restore it, the node rejoins",
          "[cluster][partition]") {
  netns ns;
  REQUIRE(ns.made); // needs root and iproute2 (scripts/setup installs it)
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"partition"};
  auto node_cfg = (dir.path / "node.json").string();
  std::ofstream{node_cfg} << nlohmann::json{
    {"cluster", {{"heartbeat_ms", 100}, {"connection_timeout_ms", 1000}}}};
  auto node = test::start_node(test::node_command(
    node_cfg, ns.ns_ip + ":0", "tools", {},
    {ip_program(), "netns", "exec", ns.name}));
  REQUIRE(node.proc);
  auto where = ns.ns_ip + ":" + std::to_string(node.port);
  auto cfg = test::tools_elsewhere(where);
  cfg.cluster.heartbeat = 100ms;
  cfg.cluster.connection_timeout = 1000ms;
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  auto& eng = joined->eng;
  auto view = joined->node->view();
  auto peer = [&] {
    for (auto& p : view->snapshot())
      if (p.name == where)
        return p;
    return cluster::peer_status{};
  };
  auto ok = test::run_task(fx.sys(), *eng, "What is 40 + 2?");
  REQUIRE(ok.value);
  CHECK(ok.value->status == task_status::completed);
  // Cut: no FIN, no RST, just silence. The heartbeats notice.
  REQUIRE(ns.cut());
  REQUIRE(test::wait_until([&] { return peer().state == "down"; }, 10s));
  auto lost = test::run_task(fx.sys(), *eng, "What is 40 + 2?");
  REQUIRE(lost.value);
  CHECK(lost.value->status == task_status::failed);
  CHECK(lost.value->error_code == "role_down");
  CHECK_THAT(lost.value->answer, Catch::Contains("no node offering the "
                                                 "tools role is up"));
  // Heal: redialling brings the node back.
  REQUIRE(ns.heal());
  REQUIRE(test::wait_until(
    [&] {
      auto s = peer();
      return s.state == "up" && s.rejoined >= 1;
    },
    30s));
  auto again = test::run_task(fx.sys(), *eng, "What is 40 + 2?");
  REQUIRE(again.value);
  CHECK(again.value->status == task_status::completed);
  unsetenv("TROUPE_APPROVAL_KEY");
}
