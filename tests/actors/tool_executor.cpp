#include "actors/tool_executor.hpp"

#include <csignal>

#include <caf/io/middleman.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"
#include "support/subprocess.hpp"

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE("the tool executor runs and lists its tools", "[actors][tools]") {
  test::system_fixture fx;
  auto reg = make_tool_registry(test::test_config(), {});
  REQUIRE(reg);
  auto exec = fx.sys().spawn(tool_executor_role, *reg);
  auto list = test::ask<tool_executor_actor, std::vector<tool_spec>>(
    fx.sys(), exec, 5s, list_atom::value);
  REQUIRE(list.value);
  CHECK(list.value->size() == 2);
  tool_invocation inv{
    {"c1", "calculator", R"j({"expression":"2*(3+4)"})j"}, 1, "s", "p"};
  auto res = test::ask<tool_executor_actor, tool_result>(fx.sys(), exec, 5s,
                                                         call_atom::value, inv);
  REQUIRE(res.value);
  CHECK(res.value->ok);
  CHECK(res.value->call_id == "c1");
  CHECK(res.value->output.find("\"result\":14") != std::string::npos);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("losing the tool node fails the task at once, not at the timeout",
          "[actors][tools][node]") {
  test::child_process node{
    {test::cli_path(), "node", "--role", "tools", "--listen", "127.0.0.1:0"}};
  auto line = node.wait_for_line("serving tools on", 20s);
  REQUIRE(line);
  auto port =
    static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  test::system_fixture fx{true};
  auto remote =
    fx.sys().middleman().remote_actor<tool_executor_actor>("127.0.0.1", port);
  REQUIRE(remote);
  auto cfg = test::test_config();
  // Deadlines far beyond the test's own 10 s: a pass proves the failure
  // came from the down message, not from a timeout.
  cfg.timeouts.tool = std::chrono::minutes{10};
  engine_options opts;
  opts.tools =
    fx.sys().spawn(remote_tools_role, *remote,
                   "127.0.0.1:" + std::to_string(port), cfg.timeouts.tool);
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  auto ok = test::run_task(fx.sys(), **eng, "What is 40 + 2?");
  REQUIRE(ok.value);
  CHECK(ok.value->answer.find("42") != std::string::npos);
  REQUIRE(node.stop(SIGKILL, 10s));
  auto lost = test::run_task(fx.sys(), **eng, "What is 40 + 2?");
  REQUIRE(lost.value);
  CHECK(lost.value->status == task_status::failed);
  CHECK(lost.value->error_code == "role_down");
  CHECK(lost.value->answer.find("is down") != std::string::npos);
}
