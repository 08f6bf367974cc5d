// Failure detection between nodes: heartbeats declare a silent peer lost.

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/actors.hpp"
#include "support/cluster.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE("a node that goes silent is declared lost by heartbeats, and its "
          "calls fail at once",
          "[cluster][node]") {
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"heartbeat"};
  auto node_cfg = dir.path / "node.json";
  std::ofstream{node_cfg} << nlohmann::json{
    {"cluster", {{"heartbeat_ms", 100}, {"connection_timeout_ms", 1000}}}};
  auto node = test::start_node(
    test::node_command(node_cfg.string(), "127.0.0.1:0", "tools"));
  REQUIRE(node.proc);
  auto cfg = test::tools_elsewhere(node.where());
  cfg.cluster.heartbeat = 100ms;
  cfg.cluster.connection_timeout = 1000ms;
  // Far beyond the test: a pass proves the heartbeats found the loss.
  cfg.timeouts.tool = std::chrono::minutes{10};
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  auto& eng = joined->eng;
  caf::scoped_actor self{fx.sys()};
  tool_invocation inv{{"c1", "shell", R"({"command":"sleep 30"})"},
                      1, "s", "test"};
  self->request(eng->guardrail(), 10s, authorize_atom::value, inv)
    .receive([&](tool_invocation& ok) { inv = std::move(ok); },
             [&](caf::error& e) { FAIL(describe(e)); });
  auto pending = self->request(eng->tools(), 60s, call_atom::value, inv);
  // The node hangs: its TCP connection stays open, it just stops talking.
  // (The call has reached it once it counts as pending there.)
  REQUIRE(test::wait_until(
    [&] {
      for (auto& p : joined->node->view()->snapshot())
        if (p.name == node.where() && p.pending == 1)
          return true;
      return false;
    },
    10s));
  node.proc->signal(SIGSTOP);
  auto stopped = std::chrono::steady_clock::now();
  caf::error err;
  pending.receive([](tool_result&) { FAIL("the call should have failed"); },
                  [&](caf::error& e) { err = std::move(e); });
  auto waited = std::chrono::steady_clock::now() - stopped;
  CHECK(code_of(err) == errc::role_down);
  CHECK_THAT(describe(err), Catch::Contains("is lost"));
  CHECK(waited < 5s);
  node.proc->signal(SIGCONT);
  unsetenv("TROUPE_APPROVAL_KEY");
}

TEST_CASE("a tool node serves its MCP servers' tools to other nodes",
          "[cluster][node][mcp]") {
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  test::temp_dir dir{"node-mcp"};
  auto node_cfg = dir.path / "node.json";
  std::ofstream{node_cfg} << nlohmann::json{
    {"mcp_servers",
     {{"ev",
       {{"command", "node"},
        {"args",
         {std::string{TROUPE_SOURCE_DIR} +
            "/tests/mcp/node_modules/@modelcontextprotocol/"
            "server-everything/dist/index.js",
          "stdio"}}}}}}};
  auto node = test::start_node(
    test::node_command(node_cfg.string(), "127.0.0.1:0", "tools"));
  REQUIRE(node.proc);
  auto cfg = test::tools_elsewhere(node.where());
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  auto& eng = joined->eng;
  // The node's tools, its MCP server's included, reach the catalog.
  auto has = [&](const char* name) {
    auto specs = eng->tool_specs();
    return std::any_of(specs.begin(), specs.end(),
                       [&](auto& s) { return s.name == name; });
  };
  // Node.js starting the MCP server, then its list crossing the cluster:
  // seconds under the sanitizers with the suite running beside it.
  REQUIRE(test::wait_until([&] { return has("ev__echo"); }, 30s));
  CHECK(has("ev__echo"));
  CHECK(has("calculator"));
  tool_invocation inv{{"c1", "ev__echo", R"({"message":"over the wire"})"},
                      1, "s", "p"};
  inv.grant = guardrail::sign(key, inv, memory::now_ms() + 60000);
  auto r = test::ask<tool_executor_actor, tool_result>(
    fx.sys(), eng->tools(), 10s, call_atom::value, inv);
  REQUIRE(r.value);
  CHECK(r.value->ok);
  CHECK_THAT(r.value->output, Catch::Contains("Echo: over the wire"));
  unsetenv("TROUPE_APPROVAL_KEY");
}
