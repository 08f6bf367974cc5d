// The OpenAI-compatible API: the official `openai` npm client (pinned by
// tests/openai's lock) against a real daemon, unchanged; and what a model
// behind an agent receives from a chat completion.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/daemon.hpp"
#include "support/model_server.hpp"

using namespace troupe::test;
using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("the official openai client works against /v1/chat/completions",
          "[daemon][openai]") {
  daemon_proc d{{{"agents",
                  {{"calc", {{"description", "does arithmetic"},
                             {"tools", {"calculator"}}}}}}}};
  auto script = std::string{TROUPE_SOURCE_DIR} + "/tests/openai/chat.mjs";
  auto r = run_process({"/usr/bin/env", "node", script,
                        "http://127.0.0.1:" + std::to_string(d.port) + "/v1",
                        admin_key},
                       60s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("all checks passed"));
}

TEST_CASE("a chat completion's messages follow the agent's instructions",
          "[daemon][openai]") {
  model_server srv;
  daemon_proc d{{{"provider",
                  {{"kind", "openai"},
                   {"model", "m"},
                   {"base_url", srv.base_url()},
                   {"api_key_env", ""},
                   {"stream", false},
                   {"fallback", json::array()}}},
                 {"agents", {{"helper", {{"instructions", "You are Helper."}}}}}}};
  auto res = d.call("POST", "/v1/chat/completions",
                    json{{"model", "helper"},
                         {"messages",
                          {{{"role", "system"}, {"content", "Be brief."}},
                           {{"role", "user"}, {"content", "Hi."}},
                           {{"role", "assistant"}, {"content", "Hello!"}},
                           {{"role", "user"},
                            {"content", {{{"type", "text"}, {"text", "What is 6 * 7?"}}}}}}}}
                      .dump());
  REQUIRE(res);
  INFO(res->body);
  REQUIRE(res->status == 200);
  auto body = json::parse(res->body);
  CHECK(body["choices"][0]["message"]["content"] == "The answer is 42.");
  CHECK(body["usage"]["total_tokens"] == 98);
  auto seen = srv.requests();
  REQUIRE(!seen.empty());
  auto& msgs = seen[0].body["messages"];
  REQUIRE(msgs.size() == 5);
  CHECK(msgs[0] == json{{"role", "system"}, {"content", "You are Helper."}});
  CHECK(msgs[1] == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(msgs[2]["content"] == "Hi.");
  CHECK(msgs[3]["content"] == "Hello!");
  CHECK(msgs[4] == json{{"role", "user"}, {"content", "What is 6 * 7?"}});
  // The last message must be the user's.
  auto last = d.call("POST", "/v1/chat/completions",
                     json{{"model", "helper"},
                          {"messages", {{{"role", "assistant"}, {"content", "x"}}}}}
                       .dump());
  CHECK(last->status == 400);
  CHECK(error_code(last) == "invalid_input");
  CHECK(d.call("GET", "/v1/chat/completions")->status == 405);
}
