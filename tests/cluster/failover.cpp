// Tool calls over several nodes: one is killed under load, the others
// carry on, and it rejoins when it comes back.

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "actors/tool_router.hpp"
#include "support/actors.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> node_args(const std::string& config,
                                   const std::string& listen) {
  return {test::cli_path(), "--config", config, "node", "--role", "tools",
          "--listen", listen};
}

uint16_t port_of(const std::string& line) {
  return static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
}

} // namespace

TEST_CASE("a tool node killed with 1,000 tasks in flight: every task ends "
          "on the other node or fails with the reason, and the node rejoins",
          "[cluster][node][failover]") {
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"failover"};
  auto node_cfg = (dir.path / "node.json").string();
  std::ofstream{node_cfg} << nlohmann::json{
    {"cluster", {{"heartbeat_ms", 100}, {"connection_timeout_ms", 1000}}}};
  auto b = std::make_unique<test::child_process>(
    node_args(node_cfg, "127.0.0.1:0"));
  test::child_process c{node_args(node_cfg, "127.0.0.1:0")};
  auto lb = b->wait_for_line("serving tools on", 20s);
  auto lc = c.wait_for_line("serving tools on", 20s);
  REQUIRE(lb);
  REQUIRE(lc);
  auto pb = port_of(*lb);
  auto pc = port_of(*lc);
  auto cfg = test::test_config();
  cfg.cluster_heartbeat = 100ms;
  cfg.cluster_connection_timeout = 1000ms;
  cfg.timeouts.tool = std::chrono::minutes{10};
  cfg.timeouts.task = std::chrono::minutes{10};
  test::system_fixture fx{cfg};
  auto& mm = fx.sys().middleman();
  auto rb = mm.remote_actor<tool_executor_actor>("127.0.0.1", pb);
  auto rc = mm.remote_actor<tool_executor_actor>("127.0.0.1", pc);
  REQUIRE(rb);
  REQUIRE(rc);
  auto view = std::make_shared<tool_nodes_view>();
  engine_options opts;
  opts.approval_key = key;
  opts.tools = fx.sys().spawn(
    tool_router,
    std::vector<tool_node_address>{{"127.0.0.1", pb, *rb},
                                   {"127.0.0.1", pc, *rc}},
    mm.actor_handle(), cfg.timeouts.tool, view);
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  auto served = [&](size_t i) { return view->snapshot().at(i).served; };
  caf::scoped_actor self{fx.sys()};
  auto send_tasks = [&](int n) {
    std::vector<decltype(self->request((*eng)->tasks(), 60s, run_atom::value,
                                       task_request{}))>
      out;
    for (int i = 0; i < n; ++i)
      out.push_back(self->request(
        (*eng)->tasks(), 60s, run_atom::value,
        task_request{0, "s" + std::to_string(i), "test",
                     "What is " + std::to_string(i) + " + 1?"}));
    return out;
  };
  auto in_flight = send_tasks(1000);
  // Kill B once it is serving its share.
  REQUIRE(test::wait_until([&] { return served(0) >= 20; }, 20s));
  REQUIRE(b->stop(SIGKILL, 10s));
  auto killed = std::chrono::steady_clock::now();
  int completed = 0;
  int failed_clearly = 0;
  int other = 0;
  auto last = killed;
  for (auto& h : in_flight)
    h.receive(
      [&](task_result& r) {
        last = std::max(last, std::chrono::steady_clock::now());
        if (r.status == task_status::completed)
          ++completed;
        else if (r.error_code == "role_down" &&
                 r.answer.find("is down") != std::string::npos)
          ++failed_clearly;
        else
          ++other;
      },
      [&](caf::error&) { ++other; });
  CHECK(completed + failed_clearly == 1000);
  CHECK(other == 0);
  // The calculator is idempotent: a call lost with B runs again on C.
  CHECK(completed == 1000);
  WARN("every task ended " << std::chrono::duration_cast<
                                std::chrono::milliseconds>(last - killed)
                                .count()
                           << " ms after the kill");
  CHECK(last - killed < 5s);
  CHECK(served(1) > 0);
  CHECK_FALSE(view->snapshot().at(0).up);
  CHECK(view->snapshot().at(0).lost == 1);
  // B comes back on its port and rejoins, through a fresh connection.
  b = std::make_unique<test::child_process>(
    node_args(node_cfg, "127.0.0.1:" + std::to_string(pb)));
  REQUIRE(b->wait_for_line("serving tools on", 20s));
  REQUIRE(test::wait_until(
    [&] {
      auto s = view->snapshot().at(0);
      return s.up && s.rejoined == 1;
    },
    20s));
  auto before = served(0);
  int after_ok = 0;
  for (auto& h : send_tasks(200))
    h.receive(
      [&](task_result& r) {
        after_ok += r.status == task_status::completed ? 1 : 0;
      },
      [&](caf::error&) {});
  CHECK(after_ok == 200);
  CHECK(served(0) > before);
  unsetenv("TROUPE_APPROVAL_KEY");
}
