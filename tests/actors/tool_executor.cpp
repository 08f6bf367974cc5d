#include "actors/tool_executor.hpp"

#include <condition_variable>
#include <csignal>
#include <mutex>

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
  auto exec = fx.sys().spawn(tool_executor_role, *reg, size_t{1}, fault_spec{});
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

TEST_CASE("the calls of one step run in parallel on the workers",
          "[actors][tools]") {
  // Two calls that each wait for the other to start: they can only both
  // succeed if they run at the same time.
  struct rendezvous {
    std::mutex mtx;
    std::condition_variable cv;
    int arrived = 0;
  };
  auto rv = std::make_shared<rendezvous>();
  tools::entry meet{
    {"meet", "waits for a partner", R"({"type":"object"})"},
    [rv](const json&, const tools::context&) -> result<json> {
      std::unique_lock<std::mutex> guard{rv->mtx};
      ++rv->arrived;
      rv->cv.notify_all();
      if (!rv->cv.wait_for(guard, 10s, [&] { return rv->arrived >= 2; }))
        return failure{errc::tool_failed, "no partner came"};
      return json{{"met", true}};
    }};
  test::system_fixture fx;
  auto reg = make_tool_registry(test::test_config(), {meet});
  REQUIRE(reg);
  auto exec = fx.sys().spawn(tool_executor_role, *reg, size_t{2}, fault_spec{});
  caf::scoped_actor self{fx.sys()};
  // Both requests are out before either answer is awaited.
  auto first = self->request(exec, 20s, call_atom::value,
                             tool_invocation{{"a", "meet", "{}"}, 1, "s", "p"});
  auto second =
    self->request(exec, 20s, call_atom::value,
                  tool_invocation{{"b", "meet", "{}"}, 1, "s", "p"});
  std::vector<tool_result> results;
  auto keep = [&](tool_result& r) { results.push_back(std::move(r)); };
  auto fail = [&](caf::error& e) { FAIL(describe(e)); };
  first.receive(keep, fail);
  second.receive(keep, fail);
  REQUIRE(results.size() == 2);
  CHECK(results[0].ok);
  CHECK(results[1].ok);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}
