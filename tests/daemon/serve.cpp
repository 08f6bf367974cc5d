// `troupe serve` end to end: the real binary on 127.0.0.1, driven over
// HTTP as a client would.

#include <algorithm>
#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "guardrail/approval.hpp"
#include "support/daemon.hpp"
#include "support/http_client.hpp"
#include "support/cluster.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace troupe::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* quick_start =
  "What is 17 * 23 + 4? Remember that the launch is on Friday.";

/// A memory search for "card" answers with `card` masked.
void search_is_masked(const daemon_proc& d, const std::string& card) {
  auto search =
    d.call("POST", "/v1/memory/search", json{{"query", "card"}}.dump());
  REQUIRE(search);
  CHECK(search->status == 200);
  CHECK(search->body.find(card) == std::string::npos);
  CHECK_THAT(search->body, Catch::Contains("[REDACTED:card]"));
}

} // namespace

TEST_CASE("troupe serve runs a task from POST to its result",
          "[daemon][serve]") {
  daemon_proc d;
  auto health = d.call("GET", "/health", {}, nullptr);
  REQUIRE(health);
  CHECK(health->status == 200);
  auto ready = d.call("GET", "/ready", {}, nullptr);
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(json::parse(ready->body)["ready"] == true);

  auto posted = d.call("POST", "/v1/tasks", json{{"input", quick_start}}.dump());
  REQUIRE(posted);
  REQUIRE(posted->status == 202);
  auto id = json::parse(posted->body)["id"].get<uint64_t>();
  CHECK(posted->headers["location"] == "/v1/tasks/" + std::to_string(id));

  auto stream = d.call("GET", "/v1/tasks/" + std::to_string(id) + "/events");
  REQUIRE(stream);
  auto events = parse_sse(stream->body);
  // tool_call, tool_result, step, then the answer's tokens, then result;
  // every event with an id, each larger than the one before.
  std::vector<std::string> names;
  for (auto& e : events)
    if (names.empty() || names.back() != e.event)
      names.push_back(e.event);
  CHECK(names == std::vector<std::string>{"tool_call", "tool_result", "step",
                                          "token", "result"});
  for (size_t i = 1; i < events.size(); ++i)
    CHECK(std::stoull(events[i].id) > std::stoull(events[i - 1].id));
  auto step_at = std::find_if(events.begin(), events.end(),
                              [](auto& e) { return e.event == "step"; });
  REQUIRE(step_at != events.end());
  CHECK(json::parse(step_at->data)["calls"][0]["name"] == "calculator");
  auto result = json::parse(events.back().data);
  CHECK(result["status"] == "completed");
  auto answer = result["result"]["answer"].get<std::string>();
  CHECK(answer.find("395") != std::string::npos);
  std::string streamed;
  for (auto& e : events)
    if (e.event == "token")
      streamed += json::parse(e.data)["delta"].get<std::string>();
  CHECK(streamed == answer);
  // A client that reconnects after the step gets what followed, once.
  auto resumed = d.call("GET", "/v1/tasks/" + std::to_string(id) + "/events",
                        {}, admin_key, {{"Last-Event-ID", step_at->id}});
  REQUIRE(resumed);
  auto rest = parse_sse(resumed->body);
  REQUIRE(rest.size() ==
          static_cast<size_t>(events.end() - step_at - 1));
  for (size_t i = 0; i < rest.size(); ++i) {
    CHECK(rest[i].id == (step_at + 1 + i)->id);
    CHECK(rest[i].data == (step_at + 1 + i)->data);
  }
  auto bad_last = d.call("GET", "/v1/tasks/" + std::to_string(id) + "/events",
                         {}, admin_key, {{"Last-Event-ID", "yesterday"}});
  CHECK(bad_last->status == 400);

  auto got = d.call("GET", "/v1/tasks/" + std::to_string(id));
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(json::parse(got->body) == result);

  auto tools = d.call("GET", "/v1/tools");
  REQUIRE(tools);
  CHECK(tools->body.find("\"calculator\"") != std::string::npos);

  auto recall = d.call("POST", "/v1/memory/search",
                       json{{"query", "launch"}}.dump());
  REQUIRE(recall);
  CHECK(recall->status == 200);
  CHECK(json::parse(recall->body)["hits"][0]["text"] == "the launch is on Friday");
  auto stored = d.call("POST", "/v1/memory",
                       json{{"text", "the office is in Lyon"}}.dump());
  REQUIRE(stored);
  CHECK(stored->status == 201);
  CHECK(json::parse(stored->body)["durable"] == true);

  auto metrics = d.call("GET", "/metrics", {}, nullptr);
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find(
          "agent_requests_total{agent_name=\"default\",status=\"completed\"} 1") !=
        std::string::npos);
  CHECK(metrics->body.find(
          "agent_tool_executions_total{status=\"ok\",tool_name=\"calculator\"} 1") !=
        std::string::npos);
  CHECK(metrics->body.find("agent_memory_usage_bytes ") != std::string::npos);
  CHECK(metrics->body.find("agent_active_tasks 0") != std::string::npos);
  // The offline planner spends no tokens, and says so.
  CHECK(metrics->body.find(
          "troupe_model_tokens_total{kind=\"prompt\",provider=\"provider\"} 0") !=
        std::string::npos);
  CHECK(metrics->body.find("troupe_role_mailbox_depth{role=\"guardrail\"} 0") !=
        std::string::npos);
  CHECK(metrics->body.find("troupe_role_mailbox_depth{role=\"planner.1\"}") !=
        std::string::npos);
  // The output is valid Prometheus text, by Prometheus' own linter.
  auto file = d.dir.path / "metrics.txt";
  std::ofstream{file} << metrics->body;
  auto lint = run_process({"/bin/sh", "-c",
                           "promtool check metrics < '" + file.string() + "'"});
  INFO(lint.out << lint.err);
  CHECK(lint.exit_code == 0);
  CHECK(d.proc->stop(SIGTERM, 20s));
  CHECK(d.proc->exit_code() == 0);
}

TEST_CASE("the API refuses bad requests with a stable code and a message",
          "[daemon][serve]") {
  daemon_proc d{{{"serve", {{"max_body_bytes", 4096}}}}};
  auto task = json{{"input", "What is 1 + 1?"}}.dump();
  auto no_key = d.call("POST", "/v1/tasks", task, nullptr);
  CHECK(no_key->status == 401);
  CHECK(error_code(no_key) == "unauthorized");
  CHECK(no_key->headers["www-authenticate"] == "Bearer");
  auto bad_key = d.call("POST", "/v1/tasks", task, "not-a-key-0123456789");
  CHECK(bad_key->status == 401);
  auto x_api_key = d.call("GET", "/v1/tools", {}, nullptr,
                          {{"X-API-Key", alice_key}});
  CHECK(x_api_key->status == 200);

  auto text = d.call("POST", "/v1/tasks", task, admin_key,
                     {{"Content-Type", "text/plain"}});
  CHECK(text->status == 415);
  CHECK(error_code(text) == "unsupported_media_type");
  auto malformed = d.call("POST", "/v1/tasks", R"({"input": "x",)");
  CHECK(malformed->status == 400);
  CHECK(error_code(malformed) == "invalid_json");
  auto not_object = d.call("POST", "/v1/tasks", R"(["input"])");
  CHECK(not_object->status == 400);
  auto unknown = d.call("POST", "/v1/tasks", R"({"input": "x", "priority": 1})");
  CHECK(unknown->status == 400);
  CHECK(json::parse(unknown->body)["error"]["message"] ==
        "unknown field 'priority' (fields: input, agent, session)");
  auto missing = d.call("POST", "/v1/tasks", R"({"agent": "a"})");
  CHECK(missing->status == 400);
  auto bad_agent = d.call("POST", "/v1/tasks", R"({"input": "x", "agent": "../etc"})");
  CHECK(bad_agent->status == 400);
  auto no_agent = d.call("POST", "/v1/tasks", R"({"input": "x", "agent": "nobody"})");
  CHECK(no_agent->status == 400);
  CHECK(error_code(no_agent) == "unknown_agent");
  CHECK(json::parse(no_agent->body)["error"]["message"] ==
        "unknown agent 'nobody' (agents: default)");
  auto huge = d.call("POST", "/v1/tasks",
                     json{{"input", std::string(5000, 'x')}}.dump());
  CHECK(huge->status == 413);
  CHECK(error_code(huge) == "payload_too_large");

  CHECK(d.call("GET", "/v2/anything")->status == 404);
  CHECK(d.call("GET", "/v1/tasks/abc")->status == 400);
  CHECK(d.call("GET", "/v1/tasks/999")->status == 404);
  auto wrong_method = d.call("PUT", "/v1/tasks");
  CHECK(wrong_method->status == 405);
  CHECK(wrong_method->headers["allow"] == "POST");

  // A principal sees only its own tasks; a user may not write memory.
  auto id = d.submit("What is 2 + 2?");
  CHECK(d.call("GET", "/v1/tasks/" + std::to_string(id), {}, alice_key)->status ==
        404);
  auto forbidden =
    d.call("POST", "/v1/memory", json{{"text", "x"}}.dump(), alice_key);
  CHECK(forbidden->status == 403);
  CHECK(error_code(forbidden) == "forbidden");

  // Rejected input is a task that ends "rejected", not an HTTP error.
  auto hostile = d.submit("<script>alert(1)</script>");
  auto events = d.follow(hostile);
  REQUIRE(!events.empty());
  CHECK(json::parse(events.back().second)["status"] == "rejected");
}

TEST_CASE("hostile bodies get a specific 400 and the daemon serves on",
          "[daemon][serve][hardening]") {
  daemon_proc d;
  auto message = [](const std::optional<http_response>& res) {
    REQUIRE(res);
    return json::parse(res->body)["error"]["message"].get<std::string>();
  };
  // The crash of the issue: ~200 KB of nesting from any API key.
  auto deep = d.call("POST", "/v1/tasks",
                     R"({"input": )" + std::string(200'000, '[') + "1" +
                       std::string(200'000, ']') + "}");
  REQUIRE(deep);
  CHECK(deep->status == 400);
  CHECK(error_code(deep) == "invalid_json");
  CHECK_THAT(message(deep), Catch::Contains("nests deeper than 64 levels"));
  auto unclosed = d.call("POST", "/v1/memory/search",
                         std::string(200'000, '{'));
  REQUIRE(unclosed);
  CHECK(unclosed->status == 400);
  auto twice = d.call("POST", "/v1/tasks", R"({"input": "a", "input": "b"})");
  CHECK(twice->status == 400);
  CHECK(message(twice) == "request body has the key \"input\" twice");
  auto utf8 = d.call("POST", "/v1/tasks", "{\"input\": \"caf\xc3\x28\"}");
  CHECK(utf8->status == 400);
  CHECK_THAT(message(utf8), Catch::StartsWith("request body at /input is not "
                                              "valid JSON") &&
                              Catch::Contains("UTF-8"));
  for (auto field : {"agent", "session"}) {
    for (auto bad : {std::string(65, 'a'), std::string(100'000, 'a'),
                     std::string{"../../etc/passwd"}, std::string{"a\nb"},
                     std::string{"a\x01"}, std::string{}}) {
      auto res = d.call("POST", "/v1/tasks",
                        json{{"input", "hi"}, {field, bad}}.dump());
      REQUIRE(res);
      CHECK(res->status == 400);
      CHECK_THAT(message(res),
                 Catch::StartsWith(std::string{"'"} + field + "' must be"));
    }
  }
  for (auto id : {"0", "18446744073709551616", "99999999999999999999999",
                  "-1", "1e3", "0x10"}) {
    auto res = d.call("GET", std::string{"/v1/tasks/"} + id);
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK_THAT(message(res), Catch::Contains("task id"));
  }
  CHECK(d.call("GET", "/v1/tasks/18446744073709551615")->status == 404);
  // Alive and serving.
  auto id = d.submit("What is 2 + 3?");
  auto events = d.follow(id);
  REQUIRE_FALSE(events.empty());
  CHECK(json::parse(events.back().second)["status"] == "completed");
}

TEST_CASE("no raw card number leaves the daemon, and none reaches its disk",
          "[daemon][serve][hardening]") {
  const std::string card = "4111 1111 1111 1111";
  daemon_proc d;
  auto first = d.submit("Remember that my card is " + card);
  auto stored_events = d.follow(first);
  auto second = d.submit("What do you remember about my card?");
  auto events = d.follow(second);
  REQUIRE(events.size() >= 1);
  auto result = json::parse(events.back().second);
  CHECK(result["status"] == "completed");
  // The memory was recalled, masked.
  auto memories = result["result"]["memories"];
  REQUIRE(memories.is_array());
  REQUIRE_FALSE(memories.empty());
  CHECK_THAT(memories[0]["text"].get<std::string>(),
             Catch::Contains("[REDACTED:card]"));
  auto everything = [&](uint64_t id) {
    std::string all;
    for (auto& [kind, data] : d.follow(id))
      all += data;
    all += d.call("GET", "/v1/tasks/" + std::to_string(id))->body;
    return all;
  };
  for (auto id : {first, second}) {
    auto all = everything(id);
    CHECK(all.find(card) == std::string::npos);
    CHECK(all.find("4111111111111111") == std::string::npos);
  }
  for (auto& [kind, data] : stored_events)
    CHECK(data.find(card) == std::string::npos);
  search_is_masked(d, card);
  auto direct = d.call("POST", "/v1/memory",
                       json{{"text", "my other card is 5555 5555 5555 4444"}}.dump());
  REQUIRE(direct);
  CHECK(direct->status == 201);
  CHECK(direct->body.find("5555 5555 5555 4444") == std::string::npos);
  CHECK(d.proc->stop(SIGTERM, 20s));
  // Neither the memory store nor the task journal holds it.
  for (auto file : {"memory.db", "memory.db-wal", "tasks.db", "tasks.db-wal"}) {
    auto path = d.dir.path / "data" / file;
    if (!std::filesystem::exists(path))
      continue;
    std::ifstream in{path, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in}, {}};
    INFO(file);
    CHECK(bytes.find(card) == std::string::npos);
    CHECK(bytes.find("5555 5555 5555 4444") == std::string::npos);
  }
}

TEST_CASE("with memory.redact_on_store off the text is kept, and still "
          "masked on the way out",
          "[daemon][serve][hardening]") {
  const std::string card = "4111 1111 1111 1111";
  daemon_proc d{{{"memory", {{"redact_on_store", false}}}}};
  d.follow(d.submit("Remember that my card is " + card));
  search_is_masked(d, card);
  auto events = d.follow(d.submit("What do you remember about my card?"));
  auto result = json::parse(events.back().second);
  CHECK(result.dump().find(card) == std::string::npos);
  CHECK_THAT(result["result"]["memories"][0]["text"].get<std::string>(),
             Catch::Contains("[REDACTED:card]"));
  CHECK(d.proc->stop(SIGTERM, 20s));
  std::ifstream in{d.dir.path / "data" / "memory.db", std::ios::binary};
  std::string bytes{std::istreambuf_iterator<char>{in}, {}};
  std::ifstream wal{d.dir.path / "data" / "memory.db-wal", std::ios::binary};
  bytes.append(std::istreambuf_iterator<char>{wal}, {});
  CHECK(bytes.find(card) != std::string::npos);
}

TEST_CASE("/metrics can require a bearer token", "[daemon][serve][hardening]") {
  setenv("TEST_METRICS_TOKEN", "metrics-token-0123456789", 1);
  daemon_proc d{{{"serve", {{"metrics_token_env", "TEST_METRICS_TOKEN"}}}}};
  auto open = d.call("GET", "/metrics", {}, nullptr);
  REQUIRE(open);
  CHECK(open->status == 401);
  CHECK(open->headers["www-authenticate"] == "Bearer");
  // An API key is not the metrics token.
  CHECK(d.call("GET", "/metrics", {}, admin_key)->status == 401);
  auto ok = d.call("GET", "/metrics", {}, "metrics-token-0123456789");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK_THAT(ok->body, Catch::Contains("agent_active_tasks"));
  CHECK(d.call("GET", "/health", {}, nullptr)->status == 200);
  unsetenv("TEST_METRICS_TOKEN");
}

TEST_CASE("an Idempotency-Key returns the first task, once per request",
          "[daemon][serve]") {
  daemon_proc d;
  auto body = json{{"input", "What is 6 * 7?"}}.dump();
  auto first = d.call("POST", "/v1/tasks", body, admin_key,
                      {{"Idempotency-Key", "order-17"}});
  REQUIRE(first->status == 202);
  auto id = json::parse(first->body)["id"];
  auto again = d.call("POST", "/v1/tasks", body, admin_key,
                      {{"Idempotency-Key", "order-17"}});
  REQUIRE(again->status == 200);
  CHECK(json::parse(again->body)["id"] == id);
  CHECK(json::parse(again->body)["replayed"] == true);
  auto other_body = d.call("POST", "/v1/tasks",
                           json{{"input", "What is 6 * 8?"}}.dump(), admin_key,
                           {{"Idempotency-Key", "order-17"}});
  CHECK(other_body->status == 422);
  CHECK(error_code(other_body) == "idempotency_key_reused");
  // Keys are per principal.
  auto alice = d.call("POST", "/v1/tasks", body, alice_key,
                      {{"Idempotency-Key", "order-17"}});
  CHECK(alice->status == 202);
  CHECK(json::parse(alice->body)["id"] != id);
}

TEST_CASE("each principal has its own rate limit", "[daemon][serve]") {
  daemon_proc d{{{"serve", {{"rate_limit", 0.01}, {"rate_burst", 2}}}}};
  CHECK(d.call("GET", "/v1/tools")->status == 200);
  CHECK(d.call("GET", "/v1/tools")->status == 200);
  auto limited = d.call("GET", "/v1/tools");
  CHECK(limited->status == 429);
  CHECK(error_code(limited) == "rate_limited");
  CHECK(std::stoi(limited->headers["retry-after"]) >= 1);
  CHECK(d.call("GET", "/v1/tools", {}, alice_key)->status == 200);
  // Probes are not rate limited.
  CHECK(d.call("GET", "/health", {}, nullptr)->status == 200);
}

TEST_CASE("a running task is cancelled by DELETE", "[daemon][serve]") {
  // The planner never answers: the task runs until cancelled.
  daemon_proc d{{{"faults", {{"planner", {{"mode", "stall"}, {"rate", 1}}}}}}};
  auto id = d.submit("What is 1 + 1?");
  auto path = "/v1/tasks/" + std::to_string(id);
  auto running = d.call("GET", path);
  CHECK(json::parse(running->body)["status"] == "running");
  auto cancel = d.call("DELETE", path);
  REQUIRE(cancel->status == 202);
  auto events = d.follow(id);
  REQUIRE(!events.empty());
  auto result = json::parse(events.back().second);
  CHECK(result["status"] == "cancelled");
  CHECK(result["result"]["answer"].get<std::string>().find("cancelled by request") !=
        std::string::npos);
  auto again = d.call("DELETE", path);
  CHECK(again->status == 409);
  CHECK(error_code(again) == "already_finished");
}

TEST_CASE("SIGHUP reloads a good config and keeps the old one on a bad one",
          "[daemon][serve]") {
  daemon_proc d;
  CHECK(d.call("GET", "/v1/tools", {}, alice_key)->status == 200);
  d.write_config("{ this is not json");
  d.proc->signal(SIGHUP);
  auto failed = d.proc->wait_for_line("reload failed", 10s);
  REQUIRE(failed);
  CHECK(failed->find(d.config_file().string()) != std::string::npos);
  CHECK(d.call("GET", "/v1/tools", {}, alice_key)->status == 200);
  // Alice loses her principal in the new config.
  auto next = d.config;
  next["access"]["principals"].erase("alice");
  d.write_config(next.dump());
  // The daemon's environment still gives alice a key: the new config is
  // refused, naming her.
  d.proc->signal(SIGHUP);
  auto refused = d.proc->wait_for_line("reload failed", 10s);
  REQUIRE(refused);
  CHECK(refused->find("principal 'alice'") != std::string::npos);
  // A good reload changes the limits and the tool lists at once.
  auto limits = d.config;
  limits["serve"]["rate_limit"] = 0.01;
  limits["serve"]["rate_burst"] = 2;
  limits["access"]["tools"] = {{"user", {{"deny", {"calculator"}}}}};
  d.write_config(limits.dump());
  d.proc->signal(SIGHUP);
  REQUIRE(d.proc->wait_for_line("reloaded", 10s));
  CHECK(d.call("GET", "/v1/tools")->status == 200);
  CHECK(d.call("GET", "/v1/tools")->status == 200);
  CHECK(d.call("GET", "/v1/tools")->status == 429);
  // The guardrail now refuses alice the calculator.
  auto id = d.submit("What is 2 + 2?", alice_key);
  auto events = d.follow(id, alice_key);
  REQUIRE(!events.empty());
  auto notes = json::parse(events.back().second)["result"]["notes"].dump();
  CHECK(notes.find("role 'user' may not use the tool 'calculator'") !=
        std::string::npos);
}

TEST_CASE("SIGHUP puts new agents in force; one on a provider the daemon "
          "did not start with is refused",
          "[daemon][serve]") {
  daemon_proc d;
  auto scout = json{{"input", "What is 2 + 2?"}, {"agent", "scout"}}.dump();
  CHECK(d.call("POST", "/v1/tasks", scout)->status == 400);
  auto next = d.config;
  next["agents"] = {{"scout", {{"instructions", "Look around first."}}}};
  d.write_config(next.dump());
  d.proc->signal(SIGHUP);
  REQUIRE(d.proc->wait_for_line("reloaded", 10s));
  auto accepted = d.call("POST", "/v1/tasks", scout);
  REQUIRE(accepted->status == 202);
  auto events = d.follow(json::parse(accepted->body)["id"].get<uint64_t>());
  REQUIRE(!events.empty());
  CHECK(json::parse(events.back().second)["status"] == "completed");
  auto later = next;
  later["providers"] = {{"later", {{"kind", "openai"}, {"model", "m"},
                                   {"base_url", "http://127.0.0.1:9/v1"},
                                   {"api_key_env", "HOME"}}}};
  later["agents"]["scout"]["provider"] = "later";
  d.write_config(later.dump());
  d.proc->signal(SIGHUP);
  auto refused = d.proc->wait_for_line("reload failed", 10s);
  REQUIRE(refused);
  INFO(*refused);
  CHECK(refused->find("provider 'later' was not configured when the engine "
                      "started") != std::string::npos);
  CHECK(d.call("POST", "/v1/tasks", scout)->status == 202);
}

TEST_CASE("SIGTERM drains: not ready, no new tasks, the rest journaled",
          "[daemon][serve]") {
  daemon_proc d{{{"faults", {{"planner", {{"mode", "stall"}, {"rate", 1}}}}},
                 {"serve", {{"drain_ms", 600000}}}}};
  auto id = d.submit("What is 1 + 1?");
  d.proc->signal(SIGTERM);
  REQUIRE(d.proc->wait_for_line("draining 1 task(s)", 10s));
  auto ready = d.call("GET", "/ready", {}, nullptr);
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(json::parse(ready->body)["reason"].get<std::string>().find("draining") !=
        std::string::npos);
  auto refused = d.call("POST", "/v1/tasks", json{{"input", "x"}}.dump());
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(error_code(refused) == "draining");
  // The planner never answers and the drain would last 10 minutes: a
  // second SIGTERM ends it at once.
  d.proc->signal(SIGTERM);
  REQUIRE(d.proc->wait_for_line("again, stopping now", 10s));
  REQUIRE(d.proc->wait_for_line("1 unfinished task(s) stay in the journal", 10s));
  REQUIRE(d.proc->stop(SIGTERM, 10s));
  CHECK(d.proc->exit_code() == 0);
  // Started again (the planner healthy now), the daemon resumes the task.
  d.config["faults"] = json::object();
  d.write_config(d.config.dump());
  d.start();
  auto events = d.follow(id);
  REQUIRE(!events.empty());
  auto j = json::parse(events.back().second);
  CHECK(j["status"] == "completed");
  CHECK(j["result"]["notes"].dump().find("resumed after a restart, after 0 "
                                         "finished step(s)") != std::string::npos);
  // New ids never reuse journaled ones.
  CHECK(d.submit("What is 2 + 2?") > id);
}

TEST_CASE("after kill -9 every acknowledged task reaches an end",
          "[daemon][serve]") {
  // Every other planner request stalls, so some tasks are in flight when
  // the daemon dies.
  daemon_proc d{{{"faults", {{"planner", {{"mode", "stall"}, {"every", 2}}}}}}};
  std::vector<uint64_t> ids;
  for (int i = 0; i < 40; ++i)
    ids.push_back(d.submit("What is " + std::to_string(i) + " + 1?"));
  REQUIRE(d.proc->stop(SIGKILL, 10s));
  d.config["faults"] = json::object();
  d.write_config(d.config.dump());
  d.start();
  // Every acknowledged task ends: those in flight were resumed (their
  // planner had not answered, so no step was under way).
  size_t resumed = 0;
  for (auto id : ids) {
    auto events = d.follow(id);
    REQUIRE(!events.empty());
    auto j = json::parse(events.back().second);
    INFO("task " << id << ": " << events.back().second);
    CHECK(j["status"] == "completed");
    resumed += j["result"]["notes"].dump().find("resumed after a restart") !=
               std::string::npos;
  }
  CHECK(resumed > 0);
}

namespace {

/// Submits `input`, kills the daemon once a step is under way, starts it
/// again without faults and returns the task's final JSON.
json crash_mid_step(daemon_proc& d, const std::string& input) {
  auto id = d.submit(input);
  d.wait_step_under_way(id);
  REQUIRE(d.proc->stop(SIGKILL, 10s));
  d.config["faults"] = json::object();
  d.write_config(d.config.dump());
  d.start();
  auto events = d.follow(id);
  REQUIRE(!events.empty());
  return json::parse(events.back().second);
}

} // namespace

TEST_CASE("a step under way at a crash is run again only if it is idempotent",
          "[daemon][serve]") {
  SECTION("the calculator (idempotent) runs again and the task completes") {
    daemon_proc d{{{"faults", {{"tools", {{"mode", "stall"}, {"rate", 1}}}}}}};
    // The step begins (journaled) and its calculator call hangs.
    auto j = crash_mid_step(d, "What is 2 + 2?");
    CHECK(j["status"] == "completed");
    CHECK(j["result"]["answer"].get<std::string>().find("4") != std::string::npos);
  }
  SECTION("memory_store (not idempotent) may have run: the task ends with why") {
    // The memory role answers recall, then never answers memory_store.
    daemon_proc d{{{"faults", {{"memory", {{"mode", "stall"}, {"every", 2}}}}}}};
    auto j = crash_mid_step(d, quick_start);
    CHECK(j["status"] == "failed");
    CHECK(j["result"]["error_code"] == "interrupted");
    CHECK(j["result"]["answer"].get<std::string>().find(
            "whose tool calls 'memory_store' may have run") != std::string::npos);
  }
}

TEST_CASE("a real Prometheus server scrapes /metrics", "[daemon][serve][prometheus]") {
  daemon_proc d;
  auto id = d.submit(quick_start);
  d.follow(id);
  temp_dir prom{"prometheus"};
  auto web = free_port();
  std::ofstream{prom.path / "prometheus.yml"}
    << "global:\n  scrape_interval: 1s\n"
       "scrape_configs:\n  - job_name: troupe\n    static_configs:\n"
       "      - targets: ['127.0.0.1:"
    << d.port << "']\n";
  child_process server{{"/bin/sh", "-c",
                        "exec prometheus --config.file='" +
                          (prom.path / "prometheus.yml").string() +
                          "' --storage.tsdb.path='" +
                          (prom.path / "data").string() +
                          "' --web.listen-address=127.0.0.1:" +
                          std::to_string(web)}};
  // Wait (up to 60 s) until a query sees the counter.
  auto until = std::chrono::steady_clock::now() + 60s;
  json value;
  while (std::chrono::steady_clock::now() < until) {
    auto res = http_call(web, "GET",
                         "/api/v1/query?query=agent_requests_total%7Bstatus%3D%22completed%22%7D",
                         {}, {}, 2s);
    if (res && res->status == 200) {
      auto j = json::parse(res->body, nullptr, false);
      if (j.is_object() && !j["data"]["result"].empty()) {
        value = j["data"]["result"][0];
        break;
      }
    }
    // Scrapes come every second: ask again shortly (a bounded poll on the
    // server's own state, not a sleep for luck).
    std::this_thread::sleep_for(200ms);
  }
  REQUIRE(value.is_object());
  CHECK(value["metric"]["agent_name"] == "default");
  CHECK(value["value"][1] == "1");
}

TEST_CASE("the daemon plans, remembers and runs tools on other nodes: "
          "status, metrics and readiness follow them",
          "[daemon][serve][cluster]") {
  auto key = troupe::guardrail::approval_key::random();
  setenv("TROUPE_APPROVAL_KEY", key.hex().c_str(), 1);
  temp_dir dir{"serve-cluster"};
  auto node_cfg = (dir.path / "node.json").string();
  std::ofstream{node_cfg} << json{
    {"data_dir", dir.path.string()},
    {"cluster",
     {{"heartbeat_ms", 100}, {"connection_timeout_ms", 1000},
      {"gossip_ms", 100}}}};
  // Another daemon of this process may have left its API keys in the
  // environment: they name principals the nodes' config does not have.
  unsetenv("TROUPE_API_KEYS");
  // P plans and remembers; T runs tools and joins through P. The daemon
  // knows only P and learns of T from it.
  std::vector<troupe::test::node_process> nodes;
  nodes.push_back(troupe::test::start_node(troupe::test::node_command(
    node_cfg, "127.0.0.1:0", "planner,memory")));
  REQUIRE(nodes[0].proc);
  nodes.push_back(troupe::test::start_node(troupe::test::node_command(
    node_cfg, "127.0.0.1:0", "tools", nodes[0].where())));
  REQUIRE(nodes[1].proc);
  daemon_proc d{{{"cluster",
                  {{"seeds", {nodes[0].where()}},
                   {"roles", {"api"}},
                   {"heartbeat_ms", 100},
                   {"connection_timeout_ms", 1000},
                   {"gossip_ms", 100}}}}};
  // The quick start: planned on P, its calculator call run on T, its
  // memory stored on P.
  auto id = d.submit(quick_start);
  auto events = d.follow(id);
  REQUIRE_FALSE(events.empty());
  auto end = json::parse(events.back().second);
  CHECK(end["status"] == "completed");
  CHECK_THAT(end.dump(), Catch::Contains("395"));
  auto status = d.call("GET", "/v1/cluster");
  REQUIRE(status);
  REQUIRE(status->status == 200);
  auto listed = json::parse(status->body)["nodes"];
  REQUIRE(listed.size() == 3);
  CHECK(listed[0]["state"] == "self");
  CHECK(listed[0]["roles"] == json{"api"});
  std::map<std::string, json> by_name;
  for (auto& n : listed)
    by_name[n["name"].get<std::string>()] = n;
  auto& p = by_name[nodes[0].where()];
  auto& t = by_name[nodes[1].where()];
  CHECK(p["state"] == "up");
  CHECK(p["roles"] == json{"planner", "memory"});
  CHECK(p["received"].get<uint64_t>() >= 2); // plans and a memory store
  CHECK(t["state"] == "up");
  CHECK(t["roles"] == json{"tools"});
  CHECK(t["received"].get<uint64_t>() >= 1); // the calculator
  CHECK(t["sent"] == t["received"]);
  // The operator's view from the command line.
  setenv("TROUPE_API_KEY", admin_key, 1);
  auto table = run_process(
    {cli_path(), "cluster", "status", "127.0.0.1:" + std::to_string(d.port)});
  unsetenv("TROUPE_API_KEY");
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::Contains(nodes[0].where()) &&
                          Catch::Contains(nodes[1].where()) &&
                          Catch::Contains("planner,memory\tup\t") &&
                          Catch::Contains("tools\tup\t"));
  auto metrics = d.call("GET", "/metrics", {}, nullptr);
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("troupe_peer_up{peer=\"" +
                                            nodes[1].where() + "\"} 1"));
  CHECK_THAT(metrics->body,
             Catch::Contains("troupe_peer_requests_sent_total") &&
               Catch::Contains("troupe_peer_replies_received_total") &&
               Catch::Contains("troupe_peer_rtt_seconds") &&
               Catch::Contains("troupe_peer_load") &&
               Catch::Contains("troupe_role_routes{role=\"tools\"} 1"));
  // Every tool node gone: not ready, and why.
  for (auto& n : nodes)
    REQUIRE(n.proc->stop(SIGKILL, 10s));
  auto until = std::chrono::steady_clock::now() + 10s;
  std::optional<http_response> ready;
  for (;;) {
    ready = d.call("GET", "/ready", {}, nullptr);
    REQUIRE(ready);
    if (ready->status == 503 || std::chrono::steady_clock::now() > until)
      break;
    // A bounded poll on the daemon's own state.
    std::this_thread::sleep_for(10ms);
  }
  CHECK(ready->status == 503);
  CHECK_THAT(ready->body, Catch::Contains("no route for the memory role: no "
                                          "node offering it is up"));
  auto after = d.call("GET", "/metrics", {}, nullptr);
  REQUIRE(after);
  CHECK_THAT(after->body, Catch::Contains("troupe_peer_up{peer=\"" +
                                          nodes[1].where() + "\"} 0") &&
                            Catch::Contains("troupe_role_routes{role=\"tools\"} 0"));
  unsetenv("TROUPE_APPROVAL_KEY");
}
