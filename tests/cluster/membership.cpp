// Membership: a cluster forms from any seed, and a role whose node is lost
// moves to another node that offers it.

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <caf/scoped_actor.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/actors.hpp"
#include "support/cluster.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// A node config with fast failure detection and gossip, and the tests'
/// principal (a memory node checks permissions with its own access config).
std::string write_node_config(const test::temp_dir& dir) {
  auto path = (dir.path / "node.json").string();
  std::ofstream{path} << nlohmann::json{
    {"data_dir", dir.path.string()},
    {"access", {{"principals", {{"test", "admin"}}}}},
    {"cluster",
     {{"heartbeat_ms", 100}, {"connection_timeout_ms", 1000},
      {"gossip_ms", 100}}}};
  return path;
}

cluster::peer_status peer(const cluster_node& node, const std::string& name) {
  for (auto& p : node.view()->snapshot())
    if (p.name == name)
      return p;
  return {};
}

} // namespace

TEST_CASE("a cluster of nodes forms from any one seed, and a task uses the "
          "roles of all of them",
          "[cluster][membership]") {
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"membership"};
  auto node_cfg = write_node_config(dir);
  // A chain: B joins through A, C through B. A plans and remembers, B and
  // C run tools.
  auto a = test::start_node(
    test::node_command(node_cfg, "127.0.0.1:0", "planner,memory"));
  REQUIRE(a.proc);
  auto b = test::start_node(
    test::node_command(node_cfg, "127.0.0.1:0", "tools", a.where()));
  REQUIRE(b.proc);
  auto c = test::start_node(
    test::node_command(node_cfg, "127.0.0.1:0", "tools", b.where()));
  REQUIRE(c.proc);
  // The engine knows only C, the last to join, and takes tasks only.
  auto cfg = test::test_config();
  cfg.cluster.seeds = {c.where()};
  cfg.cluster.roles = {"api"};
  cfg.cluster.gossip = 100ms;
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  auto& node = *joined->node;
  REQUIRE(test::wait_until(
    [&] {
      return peer(node, a.where()).state == "up" &&
             peer(node, b.where()).state == "up" &&
             peer(node, c.where()).state == "up";
    },
    10s));
  auto pa = peer(node, a.where());
  CHECK(pa.roles == std::vector<std::string>{"planner", "memory"});
  CHECK(peer(node, b.where()).roles == std::vector<std::string>{"tools"});
  auto routes = node.view()->routes();
  CHECK(routes["planner"] == 1);
  CHECK(routes["memory"] == 1);
  CHECK(routes["tools"] == 2);
  // Pings measure each peer's round trip.
  REQUIRE(test::wait_until([&] { return peer(node, b.where()).rtt_us > 0; },
                           10s));
  // A task: planned on A, its calculator call on B or C, its memory on A.
  auto r = test::run_task(fx.sys(), *joined->eng,
                          "What is 17 * 23 + 4? Remember that the launch is "
                          "on Friday.");
  REQUIRE(r.value);
  CHECK(r.value->status == task_status::completed);
  CHECK_THAT(r.value->answer, Catch::Contains("395"));
  CHECK(peer(node, a.where()).received >= 3);
  CHECK(peer(node, b.where()).received + peer(node, c.where()).received >= 1);
  // The memory lives on A: recalled from there by the next task.
  auto again = test::run_task(fx.sys(), *joined->eng,
                              "What do you remember about the launch?");
  REQUIRE(again.value);
  CHECK_THAT(again.value->answer, Catch::Contains("the launch is on Friday"));
  REQUIRE_FALSE(again.value->memories.empty());
  unsetenv("TROUPE_APPROVAL_KEY");
}

TEST_CASE("planning moves to another planner node when one is lost with "
          "tasks in flight",
          "[cluster][membership][failover]") {
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"planner-failover"};
  auto node_cfg = write_node_config(dir);
  auto p1 = test::start_node(
    test::node_command(node_cfg, "127.0.0.1:0", "planner"));
  REQUIRE(p1.proc);
  auto p2 = test::start_node(
    test::node_command(node_cfg, "127.0.0.1:0", "planner", p1.where()));
  REQUIRE(p2.proc);
  auto cfg = test::test_config();
  cfg.cluster.seeds = {p1.where()};
  cfg.cluster.roles = {"api", "memory", "tools"};
  cfg.cluster.heartbeat = 100ms;
  cfg.cluster.connection_timeout = 1000ms;
  cfg.cluster.gossip = 100ms;
  cfg.timeouts.task = std::chrono::minutes{10};
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  auto& node = *joined->node;
  REQUIRE(test::wait_until(
    [&] { return node.view()->routes()["planner"] == 2; }, 10s));
  caf::scoped_actor self{fx.sys()};
  std::vector<decltype(self->request(joined->eng->tasks(), 60s,
                                     run_atom::value, task_request{}))>
    in_flight;
  for (int i = 0; i < 1000; ++i)
    in_flight.push_back(self->request(
      joined->eng->tasks(), 60s, run_atom::value,
      task_request{0, "s" + std::to_string(i), "test",
                   "What is " + std::to_string(i) + " + 1?"}));
  REQUIRE(test::wait_until(
    [&] { return peer(node, p1.where()).received >= 20; }, 20s));
  REQUIRE(p1.proc->stop(SIGKILL, 10s));
  int completed = 0;
  int other = 0;
  std::string first_other;
  for (auto& h : in_flight)
    h.receive(
      [&](task_result& r) {
        if (r.status == task_status::completed) {
          ++completed;
        } else {
          if (other++ == 0)
            first_other = r.answer;
        }
      },
      [&](caf::error& e) {
        if (other++ == 0)
          first_other = describe(e);
      });
  INFO(first_other);
  // Planning is safe to repeat: a request lost with P1 went to P2.
  CHECK(completed == 1000);
  CHECK(peer(node, p2.where()).received > 0);
  CHECK(peer(node, p1.where()).state == "down");
  unsetenv("TROUPE_APPROVAL_KEY");
}

TEST_CASE("a role restarted on another node is announced at once, and "
          "requests go to its new instance",
          "[cluster][membership][supervision]") {
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"remote-restart"};
  // The planner node's planners crash on 2% of their messages (a drill):
  // each crash restarts one, and the engine must move to the new handle.
  auto path = (dir.path / "node.json").string();
  std::ofstream{path} << nlohmann::json{
    {"data_dir", dir.path.string()},
    {"faults", {{"planner", {{"mode", "crash"}, {"rate", 0.02}}}}},
    {"cluster", {{"gossip_ms", 100}}}};
  auto p = test::start_node(test::node_command(path, "127.0.0.1:0",
                                               "planner"));
  REQUIRE(p.proc);
  auto cfg = test::test_config();
  cfg.cluster.seeds = {p.where()};
  cfg.cluster.roles = {"api", "memory", "tools"};
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  caf::scoped_actor self{fx.sys()};
  int completed = 0;
  std::string first_other;
  // One after another, so each crash finds the successor announced.
  for (int i = 0; i < 300; ++i)
    self
      ->request(joined->eng->tasks(), 30s, run_atom::value,
                task_request{0, "s", "test",
                             "What is " + std::to_string(i) + " + 1?"})
      .receive(
        [&](task_result& r) {
          if (r.status == task_status::completed)
            ++completed;
          else if (first_other.empty())
            first_other = r.answer;
        },
        [&](caf::error& e) {
          if (first_other.empty())
            first_other = describe(e);
        });
  INFO(first_other);
  CHECK(completed == 300);
  // The node is still the same incarnation: only its roles restarted.
  CHECK(peer(*joined->node, p.where()).lost == 0);
  unsetenv("TROUPE_APPROVAL_KEY");
}
