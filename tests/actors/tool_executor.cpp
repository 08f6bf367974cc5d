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

namespace {

/// A call as the guardrail would approve it, valid for a minute.
tool_invocation approved(const guardrail::approval_key& key, tool_call call) {
  tool_invocation inv{std::move(call), 1, "s", "p"};
  inv.grant = guardrail::sign(key, inv, memory::now_ms() + 60000);
  return inv;
}

std::shared_ptr<guardrail::approval_verifier>
verifier_for(const guardrail::approval_key& key) {
  return std::make_shared<guardrail::approval_verifier>(key);
}

} // namespace

TEST_CASE("the tool executor runs and lists its tools", "[actors][tools]") {
  test::system_fixture fx;
  auto reg = make_tool_registry(test::test_config(), {});
  REQUIRE(reg);
  auto key = guardrail::approval_key::random();
  auto exec = fx.sys().spawn(tool_executor_role, *reg, size_t{1},
                             verifier_for(key), fault_spec{});
  auto list = test::ask<tool_executor_actor, std::vector<tool_spec>>(
    fx.sys(), exec, 5s, list_atom::value);
  REQUIRE(list.value);
  CHECK(list.value->size() == 2);
  auto inv =
    approved(key, {"c1", "calculator", R"j({"expression":"2*(3+4)"})j"});
  auto res = test::ask<tool_executor_actor, tool_result>(fx.sys(), exec, 5s,
                                                         call_atom::value, inv);
  REQUIRE(res.value);
  CHECK(res.value->ok);
  CHECK(res.value->call_id == "c1");
  CHECK(res.value->output.find("\"result\":14") != std::string::npos);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("the tool executor runs only calls the guardrail approved",
          "[actors][tools][guardrail]") {
  test::system_fixture fx;
  auto reg = make_tool_registry(test::test_config(), {});
  REQUIRE(reg);
  auto key = guardrail::approval_key::random();
  auto exec = fx.sys().spawn(tool_executor_role, *reg, size_t{2},
                             verifier_for(key), fault_spec{});
  auto call = [&](const tool_invocation& inv) {
    auto r = test::ask<tool_executor_actor, tool_result>(
      fx.sys(), exec, 5s, call_atom::value, inv);
    REQUIRE(r.value);
    return *r.value;
  };
  auto refused = [&](const tool_result& r, const std::string& why) {
    INFO(r.output);
    CHECK_FALSE(r.ok);
    CHECK(r.output.find("forbidden") != std::string::npos);
    CHECK(r.output.find(why) != std::string::npos);
  };
  tool_call calc{"c1", "calculator", R"({"expression":"1+1"})"};
  // No approval at all.
  refused(call(tool_invocation{calc, 1, "s", "p"}),
          "carries no approval from the guardrail");
  // Approved by another key (a forged approval).
  refused(call(approved(guardrail::approval_key::random(), calc)),
          "not valid for this call");
  // An approval for other arguments, or another principal.
  auto altered = approved(key, calc);
  altered.call.arguments = R"({"expression":"2+2"})";
  refused(call(altered), "not valid for this call");
  auto other = approved(key, calc);
  other.principal = "admin";
  refused(call(other), "not valid for this call");
  // Expired.
  tool_invocation old{calc, 1, "s", "p"};
  old.grant = guardrail::sign(key, old, memory::now_ms() - 1);
  refused(call(old), "has expired");
  // Valid once, refused when replayed.
  auto once = approved(key, calc);
  CHECK(call(once).ok);
  refused(call(once), "already used");
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("losing the tool node fails the task at once, not at the timeout",
          "[actors][tools][node]") {
  // The node runs only calls signed with the key it shares with the engine.
  auto key = guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
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
  opts.approval_key = key;
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
    tools::run_mode::blocking,
    [rv](const json&, const tools::context&) -> result<json> {
      std::unique_lock<std::mutex> guard{rv->mtx};
      ++rv->arrived;
      rv->cv.notify_all();
      if (!rv->cv.wait_for(guard, 10s, [&] { return rv->arrived >= 2; }))
        return failure{errc::tool_failed, "no partner came"};
      return json{{"met", true}};
    },
    {},
    {}};
  test::system_fixture fx;
  auto reg = make_tool_registry(test::test_config(), {meet});
  REQUIRE(reg);
  auto key = guardrail::approval_key::random();
  auto exec = fx.sys().spawn(tool_executor_role, *reg, size_t{2},
                             verifier_for(key), fault_spec{});
  caf::scoped_actor self{fx.sys()};
  // Both requests are out before either answer is awaited.
  auto first = self->request(exec, 20s, call_atom::value,
                             approved(key, {"a", "meet", "{}"}));
  auto second = self->request(exec, 20s, call_atom::value,
                              approved(key, {"b", "meet", "{}"}));
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
