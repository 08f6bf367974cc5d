// Every message crosses a node unchanged: round trips through CAF's binary
// serializer, and the type IDs register under stable names.

#include "actors/protocol.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;

namespace {

template <class T>
T round_trip(caf::actor_system& sys, T x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE(!sink(x));
  T y;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(y));
  return y;
}

tool_call sample_call() {
  return {"call_1", "calculator", R"({"expression":"1+2"})"};
}

} // namespace

TEST_CASE("conversation messages round-trip", "[actors][protocol]") {
  test::system_fixture fx;
  auto& sys = fx.sys();
  auto c = round_trip(sys, sample_call());
  CHECK((c.id == "call_1" && c.name == "calculator" &&
         c.arguments == R"({"expression":"1+2"})"));
  chat_message m{chat_role::assistant, "hi", {sample_call()}, "call_0"};
  auto m2 = round_trip(sys, m);
  CHECK((m2.role == chat_role::assistant && m2.content == "hi" &&
         m2.tool_calls.size() == 1 && m2.tool_call_id == "call_0"));
  auto s = round_trip(sys, tool_spec{"t", "d", R"({"type":"object"})", true});
  CHECK((s.name == "t" && s.description == "d" &&
         s.parameters == R"({"type":"object"})" && s.idempotent));
  auto req = round_trip(sys, chat_request{{m, m}, {s}, "m-1", R"({"type":"object"})"});
  CHECK((req.messages.size() == 2 && req.tools.size() == 1 &&
         req.model == "m-1" && req.response_schema == R"({"type":"object"})"));
  auto resp = round_trip(sys, chat_response{"done", {sample_call()}});
  CHECK((resp.content == "done" && resp.tool_calls.size() == 1));
  auto p = round_trip(sys, plan_request{7, "s", {m}, 2, "m-2", {"calc*", "!x"}, "{}"});
  CHECK((p.task_id == 7 && p.session == "s" && p.history.size() == 1 &&
         p.provider == 2 && p.model == "m-2" && p.tools.size() == 2 &&
         p.tools[1] == "!x" && p.response_schema == "{}"));
}

TEST_CASE("task and tool messages round-trip", "[actors][protocol]") {
  test::system_fixture fx;
  auto& sys = fx.sys();
  auto t = round_trip(
    sys, task_request{42, "sess", "alice", "What is 1+1?", "helper",
                      {chat_message{chat_role::user, "Hi", {}, {}}},
                      {step_record{{sample_call()}, {}}}, true});
  CHECK((t.id == 42 && t.session == "sess" && t.principal == "alice" &&
         t.text == "What is 1+1?" && t.agent == "helper" &&
         t.history.size() == 1 && t.history[0].content == "Hi" &&
         t.resume.size() == 1 && t.resumed));
  auto inv =
    round_trip(sys, tool_invocation{sample_call(), 3, "s", "bob", "helper"});
  CHECK((inv.call.name == "calculator" && inv.task_id == 3 &&
         inv.session == "s" && inv.principal == "bob" && inv.agent == "helper"));
  tool_result r{"call_1", "calculator", true, R"({"result":3})"};
  auto r2 = round_trip(sys, r);
  CHECK((r2.call_id == "call_1" && r2.ok && r2.output == r.output));
  auto st = round_trip(sys, step_record{{sample_call()}, {r}});
  CHECK((st.calls.size() == 1 && st.results.size() == 1));
  task_result tr{9,
                 task_status::rejected,
                 "no",
                 "rejected",
                 {st},
                 {"n"},
                 {memory_hit{1, "m", 2, "long_term"}},
                 token_usage{120, 30},
                 "provider.1"};
  auto tr2 = round_trip(sys, tr);
  CHECK((tr2.id == 9 && tr2.status == task_status::rejected &&
         tr2.answer == "no" && tr2.error_code == "rejected" &&
         tr2.steps.size() == 1 && tr2.memories.size() == 1 &&
         tr2.memories[0].origin == "long_term" && tr2.usage.prompt == 120 &&
         tr2.usage.completion == 30 && tr2.provider == "provider.1"));
  memory::record rec{7, "u/a", "fact", 1, 2, 3, {"t"}};
  auto rec2 = round_trip(sys, rec);
  CHECK((rec2.id == 7 && rec2.ns == "u/a" && rec2.text == "fact" &&
         rec2.created_ms == 1 && rec2.expires_ms == 2 &&
         rec2.source_task == 3 && rec2.tags == std::vector<std::string>{"t"}));
}

TEST_CASE("role messages round-trip", "[actors][protocol]") {
  test::system_fixture fx;
  auto& sys = fx.sys();
  auto h = round_trip(sys, memory_hit{5, "fact", 0.5});
  CHECK((h.id == 5 && h.text == "fact" && h.score == 0.5));
  auto q = round_trip(sys, recall_query{"s", "launch", 3, "alice", "helper"});
  CHECK((q.session == "s" && q.query == "launch" && q.limit == 3 &&
         q.principal == "alice" && q.agent == "helper"));
  auto v = round_trip(sys, verdict{verdict_action::redact, "pii", "x"});
  CHECK(
    (v.action == verdict_action::redact && v.reason == "pii" && v.text == "x"));
  auto e = round_trip(sys, event{event_kind::tool_call, 1, 2, "calculator"});
  CHECK((e.kind == event_kind::tool_call && e.task_id == 1 && e.actor_id == 2 &&
         e.detail == "calculator"));
  auto cs = round_trip(
    sys, child_status{"memory", true, 2, "root", "running", "crashed: x"});
  CHECK((cs.name == "memory" && cs.running && cs.restarts == 2 &&
         cs.parent == "root" && cs.state == "running" &&
         cs.last_exit == "crashed: x"));
  auto ms =
    round_trip(sys, monitor_stats{{1, 2, 3}, {{"planner", 4}}, {{"root", 1}}});
  CHECK(ms.counts == std::vector<uint64_t>{1, 2, 3});
  CHECK(ms.restarts.at("planner") == 4);
  CHECK(ms.escalations.at("root") == 1);
}

TEST_CASE("errors keep their code and message across a node",
          "[actors][protocol]") {
  test::system_fixture fx;
  auto err =
    round_trip(fx.sys(), make_error(errc::role_down, "tool node x is down"));
  CHECK(code_of(err) == errc::role_down);
  CHECK(describe(err) == "tool node x is down");
  CHECK(fx.sys().render(err).find("role_down") != std::string::npos);
  CHECK(code_of(caf::make_error(caf::sec::request_timeout)) == errc::timeout);
}

TEST_CASE("message types register under stable names", "[actors][protocol]") {
  test::system_fixture fx;
  for (auto name : {"troupe::tool_call",
                    "troupe::chat_message",
                    "troupe::tool_spec",
                    "troupe::chat_request",
                    "troupe::chat_response",
                    "troupe::task_request",
                    "troupe::tool_invocation",
                    "troupe::tool_result",
                    "troupe::step_record",
                    "troupe::task_result",
                    "troupe::memory_hit",
                    "troupe::recall_query",
                    "troupe::verdict",
                    "troupe::event",
                    "troupe::monitor_stats",
                    "troupe::plan_request",
                    "std::vector<troupe::tool_spec>",
                    "std::vector<troupe::memory_hit>",
                    "troupe::child_status",
                    "std::vector<troupe::child_status>",
                    "troupe::memory::record"}) {
    INFO(name);
    CHECK(fx.sys().types().make_value(name) != nullptr);
  }
}
