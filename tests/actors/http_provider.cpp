// Real model APIs, as a local server speaks them: the agent loop through an
// OpenAI-compatible and an Anthropic provider, and every way a model API
// fails — each a clear reason, a retry where it may help, and a fallback
// where it does not. The API key never shows.

#include "config/config.hpp"
#include "actors/http_provider.hpp"

#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "actors/engine.hpp"
#include "core/log.hpp"
#include "support/actors.hpp"
#include "support/model_server.hpp"

using namespace troupe;
using namespace std::chrono_literals;
using nlohmann::json;
using plan = test::model_server::plan;

namespace {

constexpr const char* key_var = "MODEL_TEST_KEY";
const std::string secret = "sk-test-7f3a9c2e1b5d4f6a8e0c";

engine_config model_config(const test::model_server& srv,
                           const std::string& kind, bool stream = true) {
  return test::on_model_server(srv, kind, stream, key_var, secret);
}

task_result run(test::system_fixture& fx, const engine& eng,
                const std::string& text) {
  auto r = test::run_task(fx.sys(), eng, text);
  REQUIRE(!r.error);
  REQUIRE(r.value);
  return std::move(*r.value);
}

std::string notes_of(const task_result& r) {
  std::string out;
  for (auto& n : r.notes)
    out += n + "\n";
  return out;
}

/// Captures the engine's log lines while it lives.
struct log_capture {
  std::ostringstream out;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink =
    std::make_shared<spdlog::sinks::ostream_sink_mt>(out);

  log_capture() {
    log::get()->sinks().push_back(sink);
    log::set_level("info");
  }

  ~log_capture() {
    log::set_level("off");
    auto& sinks = log::get()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  }
};

} // namespace

TEST_CASE("a model asks for the calculator, gets the result and answers",
          "[actors][provider]") {
  for (std::string kind : {"openai", "anthropic"})
    for (bool stream : {true, false}) {
      INFO(kind << (stream ? " streamed" : " whole"));
      test::model_server srv;
      test::system_fixture fx;
      auto eng = engine::start(fx.sys(), model_config(srv, kind, stream));
      REQUIRE(eng);
      auto r = run(fx, **eng, "What is 17 * 23 + 4?");
      CHECK(r.status == task_status::completed);
      CHECK(r.answer == "The answer is 395.");
      REQUIRE(r.steps.size() == 1);
      CHECK(r.steps[0].calls[0].name == "calculator");
      CHECK(r.steps[0].results[0].ok);
      CHECK(r.provider == "provider");
      CHECK(r.usage.prompt == 84);
      CHECK(r.usage.completion == 14);
      auto seen = srv.requests();
      REQUIRE(seen.size() == 2);
      auto& first = seen[0];
      CHECK(first.body["model"] == "test-model");
      CHECK(first.body["stream"] == stream);
      if (kind == "openai") {
        CHECK(first.path == "/v1/chat/completions");
        CHECK(first.headers.at("authorization") == "Bearer " + secret);
        CHECK(first.body["tools"].dump().find("\"calculator\"") != std::string::npos);
        CHECK(seen[1].body["messages"].back()["role"] == "tool");
      } else {
        CHECK(first.path == "/v1/messages");
        CHECK(first.headers.at("x-api-key") == secret);
        CHECK(first.headers.at("anthropic-version") == "2023-06-01");
        CHECK(seen[1].body["messages"].back()["content"][0]["type"] ==
              "tool_result");
      }
    }
}

TEST_CASE("a refused API key falls back, and the key never shows",
          "[actors][provider]") {
  test::model_server srv;
  srv.script([](size_t, const json&) {
    plan p;
    p.normal = false;
    p.status = 401;
    // A careless server that echoes the key it got.
    p.body = json{{"error", {{"message", "Incorrect API key provided: " + secret},
                             {"type", "invalid_request_error"}}}}
               .dump();
    return p;
  });
  log_capture logs;
  {
    test::system_fixture fx;
    auto eng = engine::start(fx.sys(), model_config(srv, "openai"));
    REQUIRE(eng);
    auto r = run(fx, **eng, "What is 2 + 2?");
    CHECK(r.status == task_status::completed);
    CHECK(r.provider == "provider.1"); // the offline planner
    auto notes = notes_of(r);
    CHECK(notes.find("answered 401 (the API key was refused)") != std::string::npos);
    CHECK(notes.find("[REDACTED]") != std::string::npos);
    CHECK(notes.find(secret) == std::string::npos);
    CHECK(srv.requests().size() == 1); // a 401 is not retried
  }
  CHECK(logs.out.str().find("provider_failed") != std::string::npos);
  CHECK(logs.out.str().find(secret) == std::string::npos);
}

TEST_CASE("429, 500 and 529 are retried with backoff, honouring Retry-After",
          "[actors][provider]") {
  for (int status : {429, 500, 529}) {
    INFO("status " << status);
    test::model_server srv;
    srv.script([status](size_t n, const json&) {
      plan p;
      if (n == 0) {
        p.normal = false;
        p.status = status;
        p.body = R"({"error": {"type": "overloaded_error", "message": "busy"}})";
        if (status == 429)
          p.headers = {{"Retry-After", "0"}};
      }
      return p;
    });
    test::system_fixture fx;
    auto eng = engine::start(fx.sys(), model_config(srv, "anthropic"));
    REQUIRE(eng);
    auto r = run(fx, **eng, "What is 6 * 7?");
    CHECK(r.status == task_status::completed);
    CHECK(r.answer == "The answer is 42.");
    CHECK(r.provider == "provider");
    CHECK(srv.requests().size() == 3);
  }
}

TEST_CASE("a failing API opens the circuit: later tasks fall back at once",
          "[actors][provider]") {
  test::model_server srv;
  srv.script([](size_t, const json&) {
    plan p;
    p.normal = false;
    p.status = 503;
    p.body = "<html>Service Unavailable</html>";
    return p;
  });
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  cfg.provider.max_retries = 2;
  cfg.provider.breaker_failures = 1;
  cfg.provider.breaker_cooldown = 60s;
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto first = run(fx, **eng, "What is 1 + 1?");
  CHECK(first.status == task_status::completed);
  CHECK(first.provider == "provider.1");
  CHECK(notes_of(first).find("answered 503: <html>Service Unavailable</html> "
                             "(after 2 retries)") != std::string::npos);
  CHECK(srv.requests().size() == 3);
  auto second = run(fx, **eng, "What is 2 + 2?");
  CHECK(second.status == task_status::completed);
  CHECK(notes_of(second).find("circuit open") != std::string::npos);
  CHECK(srv.requests().size() == 3); // no call went out
}

TEST_CASE("broken, slow and cut-short answers fall back with the reason",
          "[actors][provider]") {
  struct scenario {
    const char* name;
    bool stream;
    plan p;
    const char* reason;
  };
  auto broken = [](int status, std::string body, std::string stream = {}) {
    plan p;
    p.normal = false;
    p.status = status;
    p.body = std::move(body);
    p.raw_stream = std::move(stream);
    return p;
  };
  plan slow;
  slow.delay = 1500ms;
  std::vector<scenario> cases{
    {"invalid JSON", false, broken(200, "this is not json"), "not valid JSON"},
    {"no choices", false, broken(200, R"({"choices": []})"), "has no choices"},
    {"malformed arguments", false,
     broken(200, R"({"choices": [{"message": {"tool_calls": [{"id": "c1",
       "type": "function", "function": {"name": "calculator",
       "arguments": "{\"expression\": "}}]}}]})"),
     "arguments for tool 'calculator' that are not a JSON object"},
    {"stream cut mid-event", true,
     broken(200, "", "data: {\"choices\":[{\"delta\":{\"content\":\"Hel"),
     "stream ended before the answer was complete"},
    {"error inside a 200 stream", true,
     broken(200, "", "data: {\"error\": {\"message\": \"The server had an "
                     "error\", \"type\": \"server_error\"}}\n\n"),
     "stream reported an error: server_error: The server had an error"},
    {"slow answer", true, slow, "did not answer within 300 ms"},
  };
  for (auto& c : cases) {
    INFO(c.name);
    test::model_server srv;
    srv.script([p = c.p](size_t, const json&) { return p; });
    test::system_fixture fx;
    auto cfg = model_config(srv, "openai", c.stream);
    cfg.provider.timeout = 300ms;
    cfg.provider.max_retries = 0;
    auto eng = engine::start(fx.sys(), cfg);
    REQUIRE(eng);
    auto r = run(fx, **eng, "What is 3 + 4?");
    CHECK(r.status == task_status::completed);
    CHECK(r.provider == "provider.1");
    CHECK(notes_of(r).find(c.reason) != std::string::npos);
  }
}

TEST_CASE("calls in flight stay within the provider's limit",
          "[actors][provider]") {
  test::model_server srv;
  srv.script([](size_t, const json&) {
    plan p;
    p.delay = 100ms;
    return p;
  });
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  cfg.provider.max_concurrency = 2;
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  std::vector<std::thread> clients;
  std::atomic<int> completed{0};
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&, i] {
      auto r = test::run_task(fx.sys(), **eng,
                              "What is " + std::to_string(i) + " + 1?");
      if (r.value && r.value->status == task_status::completed &&
          r.value->provider == "provider")
        ++completed;
    });
  for (auto& t : clients)
    t.join();
  CHECK(completed == 6);
  CHECK(srv.most_waiting() <= 2);
  CHECK(srv.requests().size() == 12);
}

TEST_CASE("a task over its token budget ends with that reason",
          "[actors][provider]") {
  test::model_server srv;
  test::system_fixture fx;
  auto cfg = model_config(srv, "openai");
  cfg.budget.max_tokens = 60; // one call spends 49
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto r = run(fx, **eng, "What is 9 * 9?");
  CHECK(r.status == task_status::failed);
  CHECK(r.error_code == "budget_exceeded");
  CHECK(r.answer == "the task spent 98 model tokens, over its budget of 60");
}

TEST_CASE("a provider without its API key is a clear config error",
          "[actors][provider]") {
  unsetenv("MODEL_TEST_MISSING_KEY");
  auto cfg = test::test_config();
  cfg.provider.kind = "openai";
  cfg.provider.model = "m";
  cfg.provider.api_key_env = "MODEL_TEST_MISSING_KEY";
  auto v = check(cfg);
  REQUIRE_FALSE(v);
  CHECK(v.error().message ==
        "provider: the API key variable MODEL_TEST_MISSING_KEY is not set (set "
        "it, or set provider.api_key_env to \"\" for a server that needs no key)");
  cfg.provider.api_key_env = "";
  CHECK(check(cfg));
  cfg.provider.base_url = "ftp://example.com";
  CHECK_FALSE(check(cfg));
}
