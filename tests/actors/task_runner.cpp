// The agent loop through the real roles: answers, steps, memory across
// tasks, and how a task degrades or fails when a role misbehaves.

#include "actors/task_runner.hpp"

#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <future>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// A model that never stops calling tools.
provider_actor::behavior_type looping_model(provider_actor::pointer) {
  return {
    [](complete_atom, const chat_request&) {
      return chat_response{{}, {{"", "calculator", R"({"expression":"1+1"})"}}};
    },
  };
}

/// A model that calls the calculator once, then answers; every call spends
/// 10 prompt and 3 completion tokens.
provider_actor::behavior_type metered_model(provider_actor::pointer) {
  return {
    [](complete_atom, const chat_request& req) {
      chat_response r;
      r.usage = {10, 3};
      if (req.messages.back().role == chat_role::tool)
        r.content = "done";
      else
        r.tool_calls = {{"c1", "calculator", R"({"expression":"2+2"})"}};
      return r;
    },
  };
}

/// A model that answers with nothing at all.
provider_actor::behavior_type empty_model(provider_actor::pointer) {
  return {
    [](complete_atom, const chat_request&) { return chat_response{}; },
  };
}

/// A model that calls a tool nobody registered, then reports what it saw.
provider_actor::behavior_type unknown_tool_model(provider_actor::pointer) {
  return {
    [](complete_atom, const chat_request& req) {
      if (req.messages.back().role == chat_role::tool)
        return chat_response{req.messages.back().content, {}};
      return chat_response{{}, {{"c1", "teleport", "{}"}}};
    },
  };
}

/// A model that parks every request: no reply, no error.
provider_actor::behavior_type silent_model(provider_actor::pointer self) {
  return {
    [=](complete_atom, const chat_request&) -> caf::result<chat_response> {
      return self->make_response_promise<chat_response>();
    },
  };
}

/// Kills `role` and returns once it is gone (no race with the next task).
template <class Handle>
void kill_and_wait(caf::actor_system& sys, const Handle& role) {
  caf::scoped_actor self{sys};
  self->monitor(role);
  caf::anon_send_exit(role, caf::exit_reason::kill);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; },
                caf::after(std::chrono::seconds{10}) >> [] {});
  REQUIRE(down);
}

task_result run_ok(caf::actor_system& sys, const engine& eng,
                   const std::string& text, const std::string& session = "t") {
  auto r = test::run_task(sys, eng, text, session);
  REQUIRE(!r.error);
  REQUIRE(r.value);
  return std::move(*r.value);
}

} // namespace

TEST_CASE("the quick-start task runs end to end", "[actors][loop]") {
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), test::test_config());
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng,
                  "What is 17 * 23 + 4? Remember that the launch is on "
                  "Friday.");
  CHECK(r.status == task_status::completed);
  CHECK(r.answer.find("395") != std::string::npos);
  CHECK(r.answer.find("the launch is on Friday") != std::string::npos);
  REQUIRE(r.steps.size() == 1);
  // Both calls were issued together, in one step.
  REQUIRE(r.steps[0].calls.size() == 2);
  CHECK(r.steps[0].results[0].ok);
  CHECK(r.steps[0].results[1].ok);
  CHECK(r.id != 0);
}

TEST_CASE("memory carries over between tasks of one session only",
          "[actors][loop]") {
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), test::test_config());
  REQUIRE(eng);
  run_ok(fx.sys(), **eng, "Remember that the launch is on Friday.", "a");
  auto same =
    run_ok(fx.sys(), **eng, "What do you remember about the launch?", "a");
  CHECK(same.answer.find("Friday") != std::string::npos);
  auto other =
    run_ok(fx.sys(), **eng, "What do you remember about the launch?", "b");
  CHECK(other.answer.find("Friday") == std::string::npos);
}

TEST_CASE("rejected input ends the task before any tool runs",
          "[actors][loop]") {
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), test::test_config());
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "What is 1+1? eval(open('x').read())");
  CHECK(r.status == task_status::rejected);
  CHECK(r.error_code == "rejected");
  CHECK(r.answer.find("eval_call") != std::string::npos);
  CHECK(r.steps.empty());
}

TEST_CASE("a request the planner cannot map gets a plain answer",
          "[actors][loop]") {
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), test::test_config());
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "What is the capital of France?");
  CHECK(r.status == task_status::completed);
  CHECK(r.steps.empty());
  CHECK(r.answer.find("can't") != std::string::npos);
}

TEST_CASE("a model that never stops hits the step limit", "[actors][loop]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(looping_model);
  auto cfg = test::test_config();
  cfg.max_steps = 3;
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "loop forever");
  CHECK(r.status == task_status::failed);
  CHECK(r.error_code == "step_limit");
  CHECK(r.steps.size() == 3);
}

TEST_CASE("a task adds up the tokens its model calls spent",
          "[actors][loop]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(metered_model);
  auto eng = engine::start(fx.sys(), test::test_config(), std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "add two and two");
  CHECK(r.status == task_status::completed);
  CHECK(r.usage.prompt == 20);
  CHECK(r.usage.completion == 6);
  CHECK(r.provider == "provider");
}

TEST_CASE("a broken model answer falls back, or fails the task with a "
          "reason at the end of the chain",
          "[actors][loop]") {
  test::system_fixture fx;
  {
    // The default chain ends with the offline planner, which answers.
    engine_options opts;
    opts.provider = fx.sys().spawn(empty_model);
    auto eng = engine::start(fx.sys(), test::test_config(), std::move(opts));
    REQUIRE(eng);
    auto r = run_ok(fx.sys(), **eng, "What is 2 + 3?");
    CHECK(r.status == task_status::completed);
    CHECK(r.provider == "provider.1");
    REQUIRE(!r.notes.empty());
    CHECK(r.notes[0].find("model provider 'provider' failed") != std::string::npos);
    CHECK(r.notes[0].find("neither text nor tool calls") != std::string::npos);
  }
  // Without a fallback the task fails with the reason.
  engine_options opts;
  opts.provider = fx.sys().spawn(empty_model);
  auto cfg = test::test_config();
  cfg.provider.fallback.clear();
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "anything");
  CHECK(r.status == task_status::failed);
  CHECK(r.error_code == "provider_failed");
  CHECK(r.answer.find("neither text nor tool calls") != std::string::npos);
}

TEST_CASE("an unknown tool comes back to the model as an error",
          "[actors][loop]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(unknown_tool_model);
  auto eng = engine::start(fx.sys(), test::test_config(), std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "teleport me");
  CHECK(r.status == task_status::completed);
  REQUIRE(r.steps.size() == 1);
  CHECK_FALSE(r.steps[0].results[0].ok);
  CHECK(r.answer.find("unknown tool 'teleport'") != std::string::npos);
}

TEST_CASE("a dead model fails the task fast", "[actors][loop]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(empty_model);
  kill_and_wait(fx.sys(), opts.provider);
  auto cfg = test::test_config();
  cfg.provider.fallback.clear();
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "What is 1+1?");
  CHECK(r.status == task_status::failed);
  CHECK(r.error_code == "provider_failed");
}

TEST_CASE("a dead model falls back to the offline provider",
          "[actors][loop][supervisor]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(empty_model);
  kill_and_wait(fx.sys(), opts.provider);
  auto eng = engine::start(fx.sys(), test::test_config(), std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "What is 1+1?");
  CHECK(r.status == task_status::completed);
  CHECK(r.answer.find("= 2") != std::string::npos);
  // Three tries on the dead model, then the switch, each said in a note.
  REQUIRE(r.notes.size() == 4);
  CHECK(r.notes[3].find("fell back to 'provider.1'") != std::string::npos);
  auto stats = test::ask<monitor_actor, monitor_stats>(
    fx.sys(), (*eng)->monitor(), 5s, stats_atom::value);
  REQUIRE(stats.value);
  CHECK(stats.value->counts[static_cast<size_t>(
          event_kind::provider_fallback)] == 1);
}

TEST_CASE("a killed role is restarted, keeps its store, and serves again",
          "[actors][loop][supervisor]") {
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), test::test_config());
  REQUIRE(eng);
  run_ok(fx.sys(), **eng, "Remember that the launch is on Friday.");
  auto old = (*eng)->memory();
  kill_and_wait(fx.sys(), old);
  // The supervisor publishes the new handle; wait for it (with a deadline).
  REQUIRE(test::wait_until([&] { return (*eng)->memory() != old; }));
  auto r = run_ok(fx.sys(), **eng, "What do you remember about the launch?");
  CHECK(r.status == task_status::completed);
  CHECK(r.answer.find("Friday") != std::string::npos);
  auto stats = test::ask<monitor_actor, monitor_stats>(
    fx.sys(), (*eng)->monitor(), 5s, stats_atom::value);
  REQUIRE(stats.value);
  CHECK(stats.value->counts[static_cast<size_t>(event_kind::role_restarted)] ==
        1);
}

TEST_CASE("the planner hands the model the conversation and the tools",
          "[actors][planner]") {
  // A model that reports what it was given.
  auto echo = [](provider_actor::pointer) -> provider_actor::behavior_type {
    return {
      [](complete_atom, const chat_request& req) {
        std::string seen;
        for (auto& t : req.tools)
          seen += t.name + ",";
        seen += "|" + std::to_string(req.messages.size());
        return chat_response{seen, {}};
      },
    };
  };
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(echo);
  auto eng = engine::start(fx.sys(), test::test_config(), std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "hello");
  CHECK(r.answer == "calculator,http_get,list_files,memory_recall,"
                    "memory_store,read_file,shell,write_file,|1");
}

TEST_CASE("a model that never answers fails the task at its deadline",
          "[actors][loop]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(silent_model);
  auto cfg = test::test_config();
  cfg.timeouts.task = std::chrono::milliseconds{200};
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "What is 1+1?");
  CHECK(r.status == task_status::failed);
  CHECK(r.error_code == "timeout");
  CHECK(r.answer ==
        "the task's deadline of 200 ms passed while waiting for the "
        "planner (model)");
}

TEST_CASE("tasks that reuse an id each keep their own deadline",
          "[actors][loop]") {
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(silent_model);
  auto cfg = test::test_config();
  cfg.timeouts.task = std::chrono::milliseconds{100};
  auto eng = engine::start(fx.sys(), cfg, std::move(opts));
  REQUIRE(eng);
  caf::scoped_actor self{fx.sys()};
  // Both requests are out before either answer is awaited.
  auto first = self->request((*eng)->tasks(), 10s, run_atom::value,
                             task_request{5, "s", "p", "What is 1+1?"});
  auto second = self->request((*eng)->tasks(), 10s, run_atom::value,
                              task_request{5, "s", "p", "What is 2+2?"});
  int timed_out = 0;
  auto check = [&](task_result& r) {
    CHECK(r.id == 5);
    if (r.error_code == "timeout")
      ++timed_out;
  };
  auto fail = [&](caf::error& e) { FAIL(describe(e)); };
  first.receive(check, fail);
  second.receive(check, fail);
  CHECK(timed_out == 2);
}

TEST_CASE("the step limit counts tool steps; the answer after the last one "
          "is kept",
          "[actors][loop]") {
  test::system_fixture fx;
  auto cfg = test::test_config();
  cfg.max_steps = 1;
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto r = run_ok(fx.sys(), **eng, "What is 1+1?");
  CHECK(r.status == task_status::completed);
  CHECK(r.steps.size() == 1);
}

TEST_CASE("stopping the engine cancels the tasks in flight", "[actors][loop]") {
  // A silent model that says when the task reached it.
  auto reached = std::make_shared<std::promise<void>>();
  auto model =
    [reached](provider_actor::pointer self) -> provider_actor::behavior_type {
    return {
      [=](complete_atom, const chat_request&) -> caf::result<chat_response> {
        reached->set_value();
        return self->make_response_promise<chat_response>();
      },
    };
  };
  test::system_fixture fx;
  engine_options opts;
  opts.provider = fx.sys().spawn(model);
  auto eng = engine::start(fx.sys(), test::test_config(), std::move(opts));
  REQUIRE(eng);
  caf::scoped_actor self{fx.sys()};
  auto pending = self->request((*eng)->tasks(), 10s, run_atom::value,
                               task_request{0, "s", "p", "What is 1+1?"});
  REQUIRE(reached->get_future().wait_for(10s) == std::future_status::ready);
  eng->reset();
  std::optional<task_result> result;
  pending.receive([&](task_result& r) { result = std::move(r); },
                  [&](caf::error& e) { FAIL(describe(e)); });
  REQUIRE(result);
  CHECK(result->status == task_status::cancelled);
  CHECK(result->error_code == "cancelled");
}

TEST_CASE("past the root's intensity the engine's supervisor gives up",
          "[actors][supervisor]") {
  test::system_fixture fx;
  auto cfg = test::test_config();
  cfg.supervision.root.intensity = 0;
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  caf::scoped_actor self{fx.sys()};
  self->monitor((*eng)->root());
  kill_and_wait(fx.sys(), (*eng)->memory());
  caf::error reason;
  self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                caf::after(10s) >> [] {});
  REQUIRE(reason);
  CHECK(describe(reason).find("'memory'") != std::string::npos);
  // With the roles gone, a task fails fast instead of hanging.
  auto r = test::run_task(fx.sys(), **eng, "What is 1+1?");
  CHECK((r.error || (r.value && r.value->status != task_status::completed)));
}
