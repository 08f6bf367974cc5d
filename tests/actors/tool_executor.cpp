#include "config/config.hpp"
#include "actors/tool_executor.hpp"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <set>
#include <thread>

#include <poll.h>

#include <caf/io/middleman.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"
#include "support/cluster.hpp"
#include "support/subprocess.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// A call as the guardrail would approve it, valid for a minute.
tool_invocation approved(const guardrail::approval_key& key, tool_call call,
                         uint64_t task_id = 1) {
  tool_invocation inv{std::move(call), task_id, "s", "p"};
  inv.grant = guardrail::sign(key, inv, memory::now_ms() + 60000);
  return inv;
}

std::shared_ptr<guardrail::approval_verifier>
verifier_for(const guardrail::approval_key& key) {
  return std::make_shared<guardrail::approval_verifier>(key);
}

/// A local executor over the built-in tools plus `extra`, with `cfg`'s
/// pool and cache.
tool_executor_actor spawn_executor(test::system_fixture& fx,
                                   const guardrail::approval_key& key,
                                   std::vector<tools::entry> extra = {},
                                   engine_config cfg = test::test_config(),
                                   std::shared_ptr<tool_executor_setup>* out =
                                     nullptr) {
  auto reg = make_tool_registry(cfg, std::move(extra));
  REQUIRE(reg);
  auto setup =
    make_tool_setup(cfg, std::make_shared<tools::catalog>(std::move(*reg)),
                    verifier_for(key));
  if (out != nullptr)
    *out = setup;
  return fx.sys().spawn(tool_executor_role,
                        std::shared_ptr<const tool_executor_setup>{setup},
                        fault_spec{});
}

tool_result call(test::system_fixture& fx, const tool_executor_actor& exec,
                 const tool_invocation& inv) {
  auto r = test::ask<tool_executor_actor, tool_result>(fx.sys(), exec, 10s,
                                                       call_atom::value, inv);
  REQUIRE(r.value);
  return *r.value;
}

/// A blocking tool that waits until its call is cancelled (or 20 s pass)
/// and tells `seen` it saw the cancellation.
/// A tool that waits for its cancellation (at most 20 s), counting the
/// calls that started (`started`, if given) and those that saw it (`seen`).
tools::entry waiter(std::string name, uint32_t timeout_ms,
                    std::shared_ptr<std::atomic<int>> seen,
                    std::shared_ptr<std::atomic<int>> started = nullptr) {
  tools::entry e{{std::move(name), "waits", R"({"type":"object"})"},
                 [seen, started](const json&,
                                 const tools::context& ctx) -> result<json> {
                   if (started)
                     started->fetch_add(1);
                   pollfd p{ctx.cancel->fd(), POLLIN, 0};
                   ::poll(&p, 1, 20000);
                   if (ctx.cancelled())
                     seen->fetch_add(1);
                   return json{{"waited", true}};
                 }};
  e.spec.timeout_ms = timeout_ms;
  return e;
}

} // namespace

TEST_CASE("the tool executor runs and lists its tools", "[actors][tools]") {
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key);
  auto list = test::ask<tool_executor_actor, std::vector<tool_spec>>(
    fx.sys(), exec, 5s, list_atom::value);
  REQUIRE(list.value);
  auto names = std::set<std::string>{};
  for (auto& s : *list.value)
    names.insert(s.name);
  CHECK(names.count("calculator") == 1);
  CHECK(names.count("read_file") == 1);
  CHECK(names.count("write_file") == 1);
  CHECK(names.count("list_files") == 1);
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
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key);
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
  auto node = test::start_node(
    {test::cli_path(), "node", "--roles", "tools", "--listen", "127.0.0.1:0"});
  REQUIRE(node.proc);
  auto cfg = test::tools_elsewhere(node.where());
  // Deadlines far beyond the test's own 10 s: a pass proves the failure
  // came from the down message, not from a timeout.
  cfg.timeouts.tool = std::chrono::minutes{10};
  test::system_fixture fx{cfg};
  auto joined = test::join_cluster(fx.sys(), cfg, key);
  REQUIRE(joined);
  auto eng = &joined->eng;
  auto ok = test::run_task(fx.sys(), **eng, "What is 40 + 2?");
  REQUIRE(ok.value);
  CHECK(ok.value->answer.find("42") != std::string::npos);
  REQUIRE(node.proc->stop(SIGKILL, 10s));
  auto lost = test::run_task(fx.sys(), **eng, "What is 40 + 2?");
  REQUIRE(lost.value);
  CHECK(lost.value->status == task_status::failed);
  CHECK(lost.value->error_code == "role_down");
  CHECK((lost.value->answer.find("is lost") != std::string::npos ||
         lost.value->answer.find("no node offering the tools role") !=
           std::string::npos));
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
  tools::entry meet;
  meet.spec = {"meet", "waits for a partner", R"({"type":"object"})"};
  meet.fn = [rv](const json&, const tools::context&) -> result<json> {
    std::unique_lock<std::mutex> guard{rv->mtx};
    ++rv->arrived;
    rv->cv.notify_all();
    if (!rv->cv.wait_for(guard, 10s, [&] { return rv->arrived >= 2; }))
      return failure{errc::tool_failed, "no partner came"};
    return json{{"met", true}};
  };
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key, {meet});
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

TEST_CASE("arguments that break the tool's schema are refused, naming the "
          "field, before the tool runs",
          "[actors][tools]") {
  auto ran = std::make_shared<std::atomic<int>>(0);
  tools::entry typed{{"typed", "needs a count",
                      R"({"type":"object","properties":{"count":
                         {"type":"integer","minimum":1}},
                         "required":["count"],"additionalProperties":false})"},
                     [ran](const json&, const tools::context&) -> result<json> {
                       ran->fetch_add(1);
                       return json{{"ok", true}};
                     }};
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key, {typed});
  auto bad = call(fx, exec, approved(key, {"c1", "typed", R"({"count":"3"})"}));
  CHECK_FALSE(bad.ok);
  CHECK_THAT(bad.output, Catch::Contains("invalid_arguments") &&
                           Catch::Contains("argument 'count': wrong type"));
  auto missing = call(fx, exec, approved(key, {"c2", "typed", "{}"}));
  CHECK_THAT(missing.output, Catch::Contains("argument 'count': missing"));
  auto malformed = call(fx, exec, approved(key, {"c3", "typed", "{count"}));
  CHECK_THAT(malformed.output, Catch::Contains("invalid_arguments"));
  auto unknown = call(fx, exec, approved(key, {"c4", "nope", "{}"}));
  CHECK_THAT(unknown.output, Catch::Contains("unknown_tool"));
  CHECK(ran->load() == 0);
  CHECK(call(fx, exec, approved(key, {"c5", "typed", R"({"count":3})"})).ok);
  CHECK(ran->load() == 1);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("a call past its deadline fails with timeout and its tool is "
          "told to stop",
          "[actors][tools]") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  std::shared_ptr<tool_executor_setup> setup;
  auto exec = spawn_executor(fx, key, {waiter("slow", 50, seen)},
                             test::test_config(), &setup);
  auto r = call(fx, exec, approved(key, {"c1", "slow", "{}"}));
  CHECK_FALSE(r.ok);
  CHECK(r.call_id == "c1");
  CHECK_THAT(r.output, Catch::Contains("\"timeout\"") &&
                         Catch::Contains("within 50 ms"));
  CHECK(test::wait_until([&] { return seen->load() == 1; }));
  CHECK(setup->counters->timeouts.load() == 1);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("cancelling a task cancels its running calls, and only its own",
          "[actors][tools]") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  auto started = std::make_shared<std::atomic<int>>(0);
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key, {waiter("slow", 60000, seen, started)});
  caf::scoped_actor self{fx.sys()};
  auto mine = approved(key, {"a", "slow", "{}"}, 7);
  auto other = approved(key, {"b", "slow", "{}"}, 8);
  auto first = self->request(exec, 20s, call_atom::value, mine);
  auto second = self->request(exec, 20s, call_atom::value, other);
  // Both running (a call cancelled before it starts never runs).
  REQUIRE(test::wait_until([&] { return started->load() == 2; }));
  self->send(exec, cancel_atom::value, uint64_t{7});
  tool_result r;
  first.receive([&](tool_result& x) { r = std::move(x); },
                [&](caf::error& e) { FAIL(describe(e)); });
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.output, Catch::Contains("cancelled"));
  CHECK(test::wait_until([&] { return seen->load() == 1; }));
  self->send(exec, cancel_atom::value, uint64_t{8});
  second.receive([&](tool_result& x) { r = std::move(x); },
                 [&](caf::error& e) { FAIL(describe(e)); });
  CHECK(r.call_id == "b");
  CHECK(test::wait_until([&] { return seen->load() == 2; }));
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("one failing call of a step leaves its siblings alone",
          "[actors][tools]") {
  tools::entry fails{{"fails", "always fails", R"({"type":"object"})"},
                     [](const json&, const tools::context&) -> result<json> {
                       return failure{errc::tool_failed, "broken on purpose"};
                     }};
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key, {fails});
  caf::scoped_actor self{fx.sys()};
  auto a = self->request(exec, 10s, call_atom::value,
                         approved(key, {"a", "calculator",
                                        R"({"expression":"1+1"})"}));
  auto b = self->request(exec, 10s, call_atom::value,
                         approved(key, {"b", "fails", "{}"}));
  auto c = self->request(exec, 10s, call_atom::value,
                         approved(key, {"c", "calculator",
                                        R"({"expression":"2+2"})"}));
  std::map<std::string, tool_result> by_id;
  auto keep = [&](tool_result& r) { by_id[r.call_id] = r; };
  auto fail = [&](caf::error& e) { FAIL(describe(e)); };
  a.receive(keep, fail);
  b.receive(keep, fail);
  c.receive(keep, fail);
  REQUIRE(by_id.size() == 3);
  CHECK(by_id["a"].ok);
  CHECK_FALSE(by_id["b"].ok);
  CHECK_THAT(by_id["b"].output, Catch::Contains("broken on purpose"));
  CHECK(by_id["c"].ok);
  CHECK_THAT(by_id["c"].output, Catch::Contains("\"result\":4"));
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("cacheable results are served from the cache until their TTL",
          "[actors][tools]") {
  auto runs = std::make_shared<std::atomic<int>>(0);
  tools::entry counted{{"counted", "counts its runs",
                        R"({"type":"object","properties":{"x":{}}})"},
                       [runs](const json& args,
                              const tools::context&) -> result<json> {
                         return json{{"run", runs->fetch_add(1) + 1},
                                     {"x", args.value("x", json{})}};
                       }};
  counted.spec.cache_ttl_ms = 200;
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  std::shared_ptr<tool_executor_setup> setup;
  auto exec =
    spawn_executor(fx, key, {counted}, test::test_config(), &setup);
  auto first = call(fx, exec, approved(key, {"a", "counted", R"({"x":1})"}));
  auto again = call(fx, exec, approved(key, {"b", "counted", R"({ "x" : 1 })"}));
  auto other = call(fx, exec, approved(key, {"c", "counted", R"({"x":2})"}));
  CHECK(first.output == again.output);
  CHECK(again.call_id == "b");
  CHECK(runs->load() == 2);
  auto st = setup->cache->stats();
  CHECK(st.hits == 1);
  CHECK(st.misses == 2);
  // Past the TTL the tool runs again.
  auto stored = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - stored < 250ms)
    std::this_thread::sleep_for(10ms);
  auto expired = call(fx, exec, approved(key, {"d", "counted", R"({"x":1})"}));
  CHECK(runs->load() == 3);
  CHECK_THAT(expired.output, Catch::Contains("\"run\":3"));
  CHECK(setup->cache->stats().expired == 1);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("a full worker pool refuses calls at once with overloaded",
          "[actors][tools]") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  auto cfg = test::test_config();
  cfg.tool_workers = 1;
  cfg.tools.queue = 1;
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  std::shared_ptr<tool_executor_setup> setup;
  auto exec = spawn_executor(fx, key, {waiter("slow", 60000, seen)}, cfg,
                             &setup);
  caf::scoped_actor self{fx.sys()};
  auto inv = [&](const char* id) {
    return approved(key, {id, "slow", "{}"}, 9);
  };
  auto running = self->request(exec, 20s, call_atom::value, inv("a"));
  REQUIRE(test::wait_until([&] { return setup->pool->busy() == 1; }));
  auto queued = self->request(exec, 20s, call_atom::value, inv("b"));
  REQUIRE(test::wait_until([&] { return setup->pool->queued() == 1; }));
  auto refused = call(fx, exec, inv("c"));
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.output, Catch::Contains("overloaded") &&
                               Catch::Contains("busy"));
  CHECK(setup->counters->overloaded.load() == 1);
  self->send(exec, cancel_atom::value, uint64_t{9});
  auto ignore = [](tool_result&) {};
  auto fail = [&](caf::error& e) { FAIL(describe(e)); };
  running.receive(ignore, fail);
  queued.receive(ignore, fail);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("an asynchronous tool completes from another thread",
          "[actors][tools]") {
  tools::entry later{{"later", "answers from a thread", R"({"type":"object"})"}};
  later.mode = tools::run_mode::async;
  later.async_fn = [](const json&, const tools::context&,
                      tools::completion done) {
    std::thread{[done] { done(json{{"from", "thread"}}); }}.detach();
  };
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(fx, key, {later});
  auto r = call(fx, exec, approved(key, {"a", "later", "{}"}));
  CHECK(r.ok);
  CHECK_THAT(r.output, Catch::Contains("thread"));
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

TEST_CASE("calls still running fail at once when the executor stops",
          "[actors][tools]") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  std::shared_ptr<tool_executor_setup> setup;
  auto exec2 = spawn_executor(fx, key, {waiter("slow", 60000, seen)},
                              test::test_config(), &setup);
  caf::scoped_actor self{fx.sys()};
  caf::error err;
  auto pending2 =
    self->request(exec2, 20s, call_atom::value, approved(key, {"b", "slow", "{}"}));
  REQUIRE(test::wait_until([&] { return setup->pool->busy() == 1; }));
  caf::anon_send_exit(exec2, caf::exit_reason::user_shutdown);
  pending2.receive([](tool_result&) { FAIL("answered after the stop"); },
                   [&](caf::error& e) { err = e; });
  CHECK_THAT(describe(err), Catch::Contains("shutting down"));
  CHECK(test::wait_until([&] { return seen->load() == 1; }));
}

TEST_CASE("a call retried with the same idempotency key runs once",
          "[actors][tools][idempotency]") {
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto release = std::make_shared<std::atomic<bool>>(false);
  tools::entry once{{"once", "counts its runs", R"({"type":"object"})"},
                    [runs, release](const json&,
                                    const tools::context&) -> result<json> {
                      auto n = runs->fetch_add(1) + 1;
                      test::wait_until([&] { return release->load(); });
                      return json{{"run", n}};
                    }};
  test::system_fixture fx;
  auto key = guardrail::approval_key::random();
  std::shared_ptr<tool_executor_setup> setup;
  auto exec = spawn_executor(fx, key, {once}, test::test_config(), &setup);
  auto keyed = [&](const char* id, const char* idem) {
    tool_invocation inv{{id, "once", "{}"}, 1, "s", "p"};
    inv.idempotency_key = idem;
    inv.grant = guardrail::sign(key, inv, memory::now_ms() + 60000);
    return inv;
  };
  caf::scoped_actor self{fx.sys()};
  // A retry that arrives while the first attempt runs waits for its result.
  auto first = self->request(exec, 20s, call_atom::value, keyed("a", "e/1/0/a"));
  REQUIRE(test::wait_until([&] { return runs->load() == 1; }));
  auto retry = self->request(exec, 20s, call_atom::value, keyed("a2", "e/1/0/a"));
  release->store(true);
  std::vector<tool_result> got;
  auto keep = [&](tool_result& r) { got.push_back(std::move(r)); };
  auto fail = [&](caf::error& e) { FAIL(describe(e)); };
  first.receive(keep, fail);
  retry.receive(keep, fail);
  REQUIRE(got.size() == 2);
  CHECK(got[0].ok);
  CHECK(got[0].output == got[1].output);
  CHECK(got[1].call_id == "a2");
  // A retry after it finished gets the same outcome.
  auto later = call(fx, exec, keyed("a3", "e/1/0/a"));
  CHECK(later.output == got[0].output);
  CHECK(runs->load() == 1);
  // Another key is another call.
  CHECK_THAT(call(fx, exec, keyed("b", "e/1/0/b")).output,
             Catch::Contains("\"run\":2"));
  // The key is covered by the approval: changed, the call is refused.
  auto forged = keyed("c", "e/1/0/c");
  forged.idempotency_key = "e/1/0/a";
  auto refused = call(fx, exec, forged);
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.output, Catch::Contains("forbidden"));
  CHECK(runs->load() == 2);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}
