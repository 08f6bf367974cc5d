// Agents through a running engine, against the local model server in both
// wire formats: instructions arrive as the system prompt, the agent's
// model and tools are what the model is offered, its budgets bind, its
// answer is held to its output schema, and a reload swaps agents without
// touching tasks that run.

#include <catch2/catch.hpp>

#include "actors/engine.hpp"
#include "config/config.hpp"
#include "support/actors.hpp"
#include "support/model_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using nlohmann::json;
using plan = test::model_server::plan;

namespace {

constexpr const char* key_var = "MODEL_TEST_KEY";

/// An engine whose primary provider is the model server (whole answers).
engine_config model_config(const test::model_server& srv,
                           const std::string& kind) {
  return test::on_model_server(srv, kind, false, key_var, "sk-agents-test");
}

agents::agent_config agent_from(const std::string& text) {
  agents::agent_config a;
  auto f = agents::agent_keys().read(json::parse(text), a, "agents.x");
  REQUIRE(!f);
  return a;
}

test::reply<task_result> run_as(test::system_fixture& fx, const engine& eng,
                     const std::string& agent, const std::string& text) {
  task_request req{0, "s", "test", text, agent};
  return test::ask<task_actor, task_result>(fx.sys(), eng.tasks(), 10s,
                                           run_atom::value, std::move(req));
}

task_result completed(test::reply<task_result> r) {
  REQUIRE(!r.error);
  REQUIRE(r.value);
  return std::move(*r.value);
}

/// A final text answer in `format`.
json text_answer(const std::string& format, const std::string& text) {
  if (format == "openai")
    return {{"id", "chatcmpl-2"},
            {"object", "chat.completion"},
            {"choices", json::array({{{"index", 0},
                                      {"message",
                                       {{"role", "assistant"},
                                        {"content", text}}},
                                      {"finish_reason", "stop"}}})},
            {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}}}};
  return {{"id", "msg_02"},
          {"type", "message"},
          {"role", "assistant"},
          {"content", json::array({{{"type", "text"}, {"text", text}}})},
          {"stop_reason", "end_turn"},
          {"usage", {{"input_tokens", 10}, {"output_tokens", 5}}}};
}

/// An Anthropic answer that calls tool `name` with `input`.
json anthropic_call(const std::string& name, const json& input) {
  return {{"id", "msg_03"},
          {"type", "message"},
          {"role", "assistant"},
          {"content", json::array({{{"type", "tool_use"},
                                    {"id", "toolu_9"},
                                    {"name", name},
                                    {"input", input}}})},
          {"stop_reason", "tool_use"},
          {"usage", {{"input_tokens", 10}, {"output_tokens", 5}}}};
}

plan answer_with(json body) {
  plan p;
  p.normal = false;
  p.body = body.dump();
  return p;
}

std::string notes_of(const task_result& r) {
  std::string out;
  for (auto& n : r.notes)
    out += n + "\n";
  return out;
}

bool offers(const json& body, const std::string& tool) {
  if (!body.contains("tools"))
    return false;
  for (auto& t : body["tools"]) {
    auto name = t.contains("function") ? t["function"]["name"] : t["name"];
    if (name == tool)
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("an agent's instructions reach the model as its system prompt",
          "[agents][engine]") {
  for (std::string kind : {"openai", "anthropic"}) {
    INFO(kind);
    test::model_server srv;
    test::system_fixture fx;
    auto cfg = model_config(srv, kind);
    cfg.agents["helper"] = agent_from(
      R"({"instructions": "You are Helper. Answer in one line.",
          "model": "helper-model"})");
    auto eng = engine::start(fx.sys(), cfg);
    REQUIRE(eng);
    auto r = completed(run_as(fx, **eng, "helper", "What is 6 * 7?"));
    CHECK(r.status == task_status::completed);
    CHECK(r.answer == "The answer is 42.");
    auto plain = completed(run_as(fx, **eng, "default", "What is 1 + 1?"));
    CHECK(plain.status == task_status::completed);
    auto seen = srv.requests();
    REQUIRE(seen.size() == 4);
    // The agent's turns: its model, its prompt up front, every step.
    for (size_t i : {0, 1}) {
      auto& body = seen[i].body;
      CHECK(body["model"] == "helper-model");
      if (kind == "openai") {
        CHECK(body["messages"][0] ==
              json{{"role", "system"},
                   {"content", "You are Helper. Answer in one line."}});
        CHECK(body["messages"][1]["role"] == "user");
        CHECK(!body.contains("system"));
      } else {
        CHECK(body["system"] == "You are Helper. Answer in one line.");
        CHECK(body["messages"][0]["role"] == "user");
      }
    }
    // The default agent: the provider's model, no system prompt.
    CHECK(seen[2].body["model"] == "test-model");
    CHECK(!seen[2].body.contains("system"));
    CHECK(seen[2].body["messages"][0]["role"] == "user");
  }
}

TEST_CASE("an agent is offered only its tools, and a call to another is "
          "refused",
          "[agents][engine]") {
  test::model_server srv;
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  cfg.agents["reader"] = agent_from(R"({"tools": ["*_file*", "!write_*"]})");
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  // The model server asks for the calculator all the same.
  auto r = completed(run_as(fx, **eng, "reader", "What is 6 * 7?"));
  REQUIRE(r.steps.size() == 1);
  CHECK(!r.steps[0].results[0].ok);
  CHECK_THAT(r.steps[0].results[0].output,
             Catch::Contains("'calculator' is not one of agent 'reader''s "
                             "tools"));
  CHECK_THAT(notes_of(r), Catch::Contains("tool call 'calculator' refused"));
  auto seen = srv.requests();
  REQUIRE(!seen.empty());
  CHECK(!offers(seen[0].body, "calculator"));
  CHECK(offers(seen[0].body, "read_file"));
  CHECK(offers(seen[0].body, "list_files"));
  CHECK(!offers(seen[0].body, "write_file"));
  CHECK(!offers(seen[0].body, "memory_store"));
}

TEST_CASE("an agent without memory recalls nothing and has no memory tools",
          "[agents][engine]") {
  test::model_server srv;
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  cfg.agents["forgetful"] = agent_from(R"({"memory": {"enabled": false}})");
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto r = completed(run_as(fx, **eng, "forgetful", "What is 6 * 7?"));
  CHECK(r.status == task_status::completed);
  auto seen = srv.requests();
  REQUIRE(!seen.empty());
  CHECK(offers(seen[0].body, "calculator"));
  CHECK(!offers(seen[0].body, "memory_store"));
  CHECK(!offers(seen[0].body, "memory_recall"));
}

TEST_CASE("an agent's budgets bind: tokens, steps and wall time",
          "[agents][engine]") {
  test::model_server srv;
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  // Each model call spends 42 + 7 tokens: the second passes 60.
  cfg.agents["frugal"] = agent_from(R"({"max_tokens": 60})");
  cfg.agents["brief"] = agent_from(R"({"max_steps": 1})");
  cfg.agents["hasty"] = agent_from(R"({"timeout_ms": 300})");
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto frugal = completed(run_as(fx, **eng, "frugal", "What is 6 * 7?"));
  CHECK(frugal.status == task_status::failed);
  CHECK(frugal.error_code == "budget_exceeded");
  CHECK_THAT(frugal.answer, Catch::Contains("over its budget of 60"));
  auto plain = completed(run_as(fx, **eng, "default", "What is 6 * 7?"));
  CHECK(plain.status == task_status::completed);

  // A model that never stops calling the calculator.
  auto question =
    json{{"model", "test-model"},
         {"messages",
          json::array({{{"role", "user"}, {"content", "What is 1 + 1?"}}})}};
  auto call = test::normal_answer("openai", question);
  srv.script([call](size_t n, const json&) mutable {
    // A new call id each time (a repeated one is an unusable answer).
    call["choices"][0]["message"]["tool_calls"][0]["id"] =
      "call_" + std::to_string(n);
    return answer_with(call);
  });
  auto brief = completed(run_as(fx, **eng, "brief", "What is 1 + 1?"));
  INFO(notes_of(brief));
  CHECK(brief.status == task_status::failed);
  CHECK(brief.error_code == "step_limit");
  CHECK_THAT(brief.answer, Catch::Contains("after 1 tool steps"));

  // A model that takes longer than the agent may wait.
  srv.script([](size_t, const json&) {
    plan p;
    p.delay = 3s;
    return p;
  });
  auto hasty = completed(run_as(fx, **eng, "hasty", "What is 1 + 1?"));
  CHECK(hasty.status == task_status::failed);
  CHECK(hasty.error_code == "timeout");
  CHECK_THAT(hasty.answer, Catch::Contains("deadline of 300 ms"));
}

TEST_CASE("structured output: valid, repaired once, or invalid_output",
          "[agents][engine]") {
  const std::string schema =
    R"({"type": "object", "required": ["city"],
        "properties": {"city": {"type": "string"}}})";
  auto config_with = [&](test::model_server& srv, const std::string& kind) {
    auto cfg = model_config(srv, kind);
    agents::agent_config a;
    a.output_schema = schema;
    cfg.agents["geo"] = a;
    return cfg;
  };
  SECTION("OpenAI: response_format json_schema") {
    test::model_server srv;
    // 0: valid; 1: prose, then 2: valid (repaired); 3, 4: prose twice.
    srv.script([](size_t n, const json&) {
      return answer_with(text_answer(
        "openai", n == 0 || n == 2 ? R"({"city": "Paris"})" : "Paris, I think."));
    });
    test::system_fixture fx;
    auto eng = engine::start(fx.sys(), config_with(srv, "openai"));
    REQUIRE(eng);
    auto valid = completed(run_as(fx, **eng, "geo", "Capital of France?"));
    CHECK(valid.status == task_status::completed);
    CHECK(json::parse(valid.answer) == json{{"city", "Paris"}});
    auto repaired = completed(run_as(fx, **eng, "geo", "Capital of France?"));
    CHECK(repaired.status == task_status::completed);
    CHECK(json::parse(repaired.answer) == json{{"city", "Paris"}});
    CHECK_THAT(notes_of(repaired), Catch::Contains("asked the model once more"));
    auto failed = completed(run_as(fx, **eng, "geo", "Capital of France?"));
    CHECK(failed.status == task_status::failed);
    CHECK(failed.error_code == "invalid_output");
    CHECK_THAT(failed.answer, Catch::Contains("also when asked again"));
    auto seen = srv.requests();
    REQUIRE(seen.size() == 5);
    auto& format = seen[0].body["response_format"];
    CHECK(format["type"] == "json_schema");
    CHECK(format["json_schema"]["schema"] == json::parse(schema));
    CHECK(format["json_schema"]["name"] == "answer");
    // The repair turn says what was wrong.
    auto& last = seen[2].body["messages"].back();
    CHECK(last["role"] == "user");
    CHECK_THAT(last["content"].get<std::string>(),
               Catch::Contains("does not match the required JSON Schema"));
  }
  SECTION("Anthropic: a forced final_answer tool") {
    test::model_server srv;
    srv.script([](size_t n, const json&) {
      return answer_with(n == 0 ? anthropic_call("final_answer", {{"city", "Rome"}})
                                : anthropic_call("final_answer", {{"town", 1}}));
    });
    test::system_fixture fx;
    auto eng = engine::start(fx.sys(), config_with(srv, "anthropic"));
    REQUIRE(eng);
    auto valid = completed(run_as(fx, **eng, "geo", "Capital of Italy?"));
    CHECK(valid.status == task_status::completed);
    CHECK(json::parse(valid.answer) == json{{"city", "Rome"}});
    CHECK(valid.steps.empty());
    auto failed = completed(run_as(fx, **eng, "geo", "Capital of Italy?"));
    CHECK(failed.status == task_status::failed);
    CHECK(failed.error_code == "invalid_output");
    CHECK_THAT(failed.answer, Catch::Contains("city"));
    auto seen = srv.requests();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].body["tool_choice"] == json{{"type", "any"}});
    REQUIRE(offers(seen[0].body, "final_answer"));
    for (auto& t : seen[0].body["tools"])
      if (t["name"] == "final_answer")
        CHECK(t["input_schema"] == json::parse(schema));
  }
}

TEST_CASE("an agent runs on its own provider, the engine's chain behind it",
          "[agents][engine]") {
  test::model_server srv;
  test::system_fixture fx;
  setenv(key_var, "sk-agents-test", 1);
  auto cfg = test::test_config(); // the primary: offline
  llm::provider_config claude;
  claude.kind = "anthropic";
  claude.model = "claude-test";
  claude.base_url = srv.base_url();
  claude.api_key_env = key_var;
  claude.stream = false;
  claude.timeout = 5s;
  claude.max_retries = 0;
  cfg.providers["claude"] = claude;
  cfg.agents["poet"] = agent_from(R"({"provider": "claude",
                                      "model": "claude-poet"})");
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto r = completed(run_as(fx, **eng, "poet", "What is 6 * 7?"));
  CHECK(r.status == task_status::completed);
  CHECK(r.answer == "The answer is 42.");
  // The roster: the primary, its fallback (offline), then claude.
  CHECK(r.provider == "provider.2");
  auto seen = srv.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].path == "/v1/messages");
  CHECK(seen[0].body["model"] == "claude-poet");
  // The default agent stays on the offline provider.
  auto offline = completed(run_as(fx, **eng, "default", "What is 6 * 7?"));
  CHECK(offline.status == task_status::completed);
  CHECK(offline.provider == "provider");
  CHECK(srv.requests().size() == 2);
  // Its provider down: the engine's chain (offline) answers.
  srv.script([](size_t, const json&) {
    plan p;
    p.normal = false;
    p.status = 500;
    p.body = R"({"error": {"message": "overloaded"}})";
    return p;
  });
  auto fell = completed(run_as(fx, **eng, "poet", "What is 6 * 7?"));
  CHECK(fell.status == task_status::completed);
  CHECK(fell.provider == "provider");
  CHECK_THAT(notes_of(fell), Catch::Contains("fell back to 'provider'"));
}

TEST_CASE("an unknown agent fails the task with the agents there are",
          "[agents][engine]") {
  test::system_fixture fx;
  auto cfg = test::test_config();
  cfg.agents["helper"] = agents::agent_config{};
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto r = completed(run_as(fx, **eng, "nobody", "hi"));
  CHECK(r.status == task_status::failed);
  CHECK(r.error_code == "invalid_input");
  CHECK(r.answer == "unknown agent 'nobody' (agents: default, helper)");
}

TEST_CASE("agents reload whole; a bad set changes nothing",
          "[agents][engine]") {
  test::model_server srv;
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  cfg.agents["helper"] = agent_from(R"({"instructions": "First prompt."})");
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  completed(run_as(fx, **eng, "helper", "What is 1 + 1?"));
  auto next = cfg;
  next.agents["helper"] = agent_from(R"({"instructions": "Second prompt."})");
  next.agents["added"] = agents::agent_config{};
  REQUIRE((*eng)->set_agents(next));
  CHECK((*eng)->agents()->find("added"));
  completed(run_as(fx, **eng, "helper", "What is 1 + 1?"));
  auto seen = srv.requests();
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].body["messages"][0]["content"] == "First prompt.");
  CHECK(seen[2].body["messages"][0]["content"] == "Second prompt.");
  // A provider the engine did not start with: refused, the old set stays.
  auto bad = next;
  llm::provider_config later;
  later.kind = "openai";
  later.base_url = srv.base_url();
  later.api_key_env = key_var;
  bad.providers["later"] = later;
  bad.agents["helper"].provider = "later";
  auto refused = (*eng)->set_agents(bad);
  REQUIRE(!refused);
  CHECK_THAT(refused.error().message,
             Catch::Contains("agents.helper.provider: provider 'later' was "
                             "not configured when the engine started"));
  CHECK((*eng)->agents()->find("added"));
  CHECK((*eng)->agents()->find("helper")->instructions == "Second prompt.");
}
