// Conversation threads through `troupe serve`: a run gives the model the
// thread's earlier turns (within the agent's history budget, whole turns
// only), one run at a time, durable across kill -9, each principal's own.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/actors.hpp"
#include "support/daemon.hpp"
#include "support/model_server.hpp"

using namespace troupe::test;
using namespace std::chrono_literals;
using nlohmann::json;
using plan = troupe::test::model_server::plan;

namespace {

/// A daemon whose provider is the model server (whole answers).
json on_model(const model_server& srv, json extra = json::object()) {
  json cfg{{"provider",
            {{"kind", "openai"},
             {"model", "m"},
             {"base_url", srv.base_url()},
             {"api_key_env", ""},
             {"stream", false},
             {"max_retries", 0},
             {"fallback", json::array()}}}};
  cfg.merge_patch(extra);
  return cfg;
}

std::string new_thread(const daemon_proc& d, json body = json::object()) {
  auto res = d.call("POST", "/v1/threads", body.dump());
  REQUIRE(res);
  REQUIRE(res->status == 201);
  auto id = json::parse(res->body)["id"].get<std::string>();
  CHECK(res->headers["location"] == "/v1/threads/" + id);
  return id;
}

/// Starts a run; returns its task id.
uint64_t run(const daemon_proc& d, const std::string& thread,
             const std::string& input, json extra = json::object()) {
  json body{{"input", input}};
  body.merge_patch(extra);
  auto res = d.call("POST", "/v1/threads/" + thread + "/runs", body.dump());
  REQUIRE(res);
  INFO(res->body);
  REQUIRE(res->status == 202);
  return json::parse(res->body)["id"].get<uint64_t>();
}

/// Runs `input` on `thread` to its end; returns the final status.
std::string turn(const daemon_proc& d, const std::string& thread,
                 const std::string& input) {
  auto events = d.follow(run(d, thread, input));
  REQUIRE(!events.empty());
  return json::parse(events.back().second)["status"].get<std::string>();
}

json get_thread(const daemon_proc& d, const std::string& thread) {
  auto res = d.call("GET", "/v1/threads/" + thread);
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}

/// The user turns the model was given in request `body`, in order.
std::vector<std::string> user_turns(const json& body) {
  std::vector<std::string> out;
  for (auto& m : body["messages"])
    if (m["role"] == "user")
      out.push_back(m["content"].get<std::string>());
  return out;
}

} // namespace

TEST_CASE("a thread's third run gives the model the first two turns",
          "[daemon][threads]") {
  model_server srv;
  daemon_proc d{on_model(srv)};
  auto thread = new_thread(d, {{"metadata", {{"customer", "acme"}}}});
  CHECK(turn(d, thread, "What is 1 + 1?") == "completed");
  CHECK(turn(d, thread, "What is 2 + 2?") == "completed");
  CHECK(turn(d, thread, "What is 3 + 3?") == "completed");
  auto seen = srv.requests();
  REQUIRE(seen.size() == 6);
  CHECK(user_turns(seen[4].body) ==
        std::vector<std::string>{"What is 1 + 1?", "What is 2 + 2?",
                                 "What is 3 + 3?"});
  // The earlier turns whole: the call, its result, the answer.
  auto& msgs = seen[4].body["messages"];
  CHECK(msgs[1]["tool_calls"][0]["function"]["name"] == "calculator");
  CHECK(msgs[2]["role"] == "tool");
  CHECK(msgs[3]["content"] == "The answer is 2.");
  auto t = get_thread(d, thread);
  CHECK(t["metadata"] == json{{"customer", "acme"}});
  CHECK(t["agent"] == "default");
  REQUIRE(t["messages"].size() == 12);
  CHECK(t["messages"][0] ==
        json{{"role", "user"}, {"content", "What is 1 + 1?"},
             {"run", t["runs"][0]["id"]}});
  CHECK(t["messages"][11]["content"] == "The answer is 6.");
  REQUIRE(t["runs"].size() == 3);
  for (auto& r : t["runs"])
    CHECK(r["status"] == "completed");
  // Another principal sees no such thread.
  auto other = d.call("GET", "/v1/threads/" + thread, {}, alice_key);
  CHECK(other->status == 404);
  CHECK(d.call("POST", "/v1/threads/" + thread + "/runs",
               json{{"input", "hi"}}.dump(), alice_key)
          ->status == 404);
  // Deleted, it is gone.
  CHECK(d.call("DELETE", "/v1/threads/" + thread)->status == 204);
  CHECK(d.call("GET", "/v1/threads/" + thread)->status == 404);
}

TEST_CASE("the history budget leaves out the oldest turns whole",
          "[daemon][threads]") {
  model_server srv;
  // Turn 1 costs over 500 estimated tokens (its long input), turn 2 under
  // 150: a budget of 300 keeps turn 2 only.
  daemon_proc d{on_model(srv, {{"agents", {{"brief", {{"history_tokens", 300}}}}}})};
  auto thread = new_thread(d, {{"agent", "brief"}});
  auto long_one = "What is 1 + 1? " + std::string(2000, 'x');
  CHECK(turn(d, thread, long_one) == "completed");
  CHECK(turn(d, thread, "What is 2 + 2?") == "completed");
  CHECK(turn(d, thread, "What is 3 + 3?") == "completed");
  auto seen = srv.requests();
  REQUIRE(seen.size() == 6);
  CHECK(user_turns(seen[4].body) ==
        std::vector<std::string>{"What is 2 + 2?", "What is 3 + 3?"});
  // It starts at a user turn: no result without its call.
  CHECK(seen[4].body["messages"][0]["role"] == "user");
  // The thread itself keeps every turn.
  CHECK(get_thread(d, thread)["messages"].size() == 12);
}

TEST_CASE("one run per thread: thread_busy, or queued behind the one running",
          "[daemon][threads]") {
  daemon_proc d{{{"faults", {{"planner", {{"mode", "stall"}, {"rate", 1}}}}}}};
  auto thread = new_thread(d);
  auto first = run(d, thread, "What is 1 + 1?");
  auto busy = d.call("POST", "/v1/threads/" + thread + "/runs",
                     json{{"input", "What is 2 + 2?"}}.dump());
  REQUIRE(busy);
  CHECK(busy->status == 409);
  CHECK(error_code(busy) == "thread_busy");
  CHECK_THAT(busy->body, Catch::Contains("task " + std::to_string(first)));
  auto queued = d.call("POST", "/v1/threads/" + thread + "/runs",
                       json{{"input", "What is 2 + 2?"}, {"busy", "queue"}}.dump());
  REQUIRE(queued->status == 202);
  CHECK(json::parse(queued->body)["status"] == "queued");
  auto second = json::parse(queued->body)["id"].get<uint64_t>();
  auto waited = d.call("POST", "/v1/threads/" + thread + "/runs?wait=true",
                       json{{"input", "What is 3 + 3?"}}.dump());
  REQUIRE(waited->status == 202);
  CHECK(json::parse(waited->body)["status"] == "queued");
  auto t = get_thread(d, thread);
  REQUIRE(t["runs"].size() == 3);
  CHECK(t["runs"][0]["status"] == "running");
  CHECK(t["runs"][1]["status"] == "queued");
  CHECK(d.call("DELETE", "/v1/threads/" + thread)->status == 409);
  // The first run ends (cancelled): the second starts.
  REQUIRE(d.call("DELETE", "/v1/tasks/" + std::to_string(first))->status == 202);
  auto ended = d.follow(first);
  CHECK(json::parse(ended.back().second)["status"] == "cancelled");
  CHECK(wait_until([&] {
    return get_thread(d, thread)["runs"][1]["status"] == "running";
  }));
  CHECK(get_thread(d, thread)["runs"][2]["status"] == "queued");
  // A cancelled run adds nothing to the conversation.
  CHECK(get_thread(d, thread)["messages"].empty());
  (void)second;
}

TEST_CASE("the next turn may start as soon as the last one's result is out",
          "[daemon][threads]") {
  daemon_proc d;
  auto thread = new_thread(d);
  // Each run is posted the moment the one before has ended: never busy.
  for (int i = 0; i < 20; ++i)
    REQUIRE(turn(d, thread, "What is " + std::to_string(i) + " + 1?") ==
            "completed");
  CHECK(get_thread(d, thread)["messages"].size() == 80);
}

TEST_CASE("a thread survives kill -9 between turns and during a run",
          "[daemon][threads]") {
  model_server srv;
  // Request 2 (run 2's first) never answers: the daemon dies during it.
  srv.script([](size_t n, const json&) {
    plan p;
    if (n == 2)
      p.delay = -1ms;
    return p;
  });
  daemon_proc d{on_model(srv)};
  auto thread = new_thread(d);
  CHECK(turn(d, thread, "What is 1 + 1?") == "completed");
  REQUIRE(d.proc->stop(SIGKILL, 10s));
  d.start();
  // Between turns: the thread and its turn are there.
  CHECK(get_thread(d, thread)["messages"].size() == 4);
  auto second = run(d, thread, "What is 2 + 2?");
  REQUIRE(wait_until([&] { return srv.requests().size() == 3; }));
  REQUIRE(d.proc->stop(SIGKILL, 10s));
  d.start();
  // During a run: resumed, it ends once and adds its turn once.
  auto events = d.follow(second);
  REQUIRE(!events.empty());
  auto end = json::parse(events.back().second);
  CHECK(end["status"] == "completed");
  CHECK(end["result"]["answer"] == "The answer is 4.");
  auto t = get_thread(d, thread);
  CHECK(t["messages"].size() == 8);
  // The resumed run was given turn 1.
  auto seen = srv.requests();
  REQUIRE(seen.size() >= 4);
  CHECK(user_turns(seen[3].body) ==
        std::vector<std::string>{"What is 1 + 1?", "What is 2 + 2?"});
  CHECK(turn(d, thread, "What is 3 + 3?") == "completed");
  CHECK(get_thread(d, thread)["messages"].size() == 12);
}

TEST_CASE("bad thread requests are clear 4xx", "[daemon][threads]") {
  daemon_proc d;
  auto bad = [&](const std::string& method, const std::string& path,
                 const std::string& body, int status, const std::string& says) {
    auto res = d.call(method, path, body);
    REQUIRE(res);
    INFO(method << " " << path << " " << body << " -> " << res->body);
    CHECK(res->status == status);
    CHECK_THAT(res->body, Catch::Contains(says));
  };
  bad("POST", "/v1/threads", R"({"agent": "nobody"})", 400,
      "unknown agent 'nobody' (agents: default)");
  bad("POST", "/v1/threads", R"({"metadata": [1]})", 400,
      "'metadata' must be a JSON object");
  bad("POST", "/v1/threads", R"({"colour": "red"})", 400,
      "unknown field 'colour' (fields: agent, metadata)");
  bad("POST", "/v1/threads",
      json{{"metadata", {{"x", std::string(20000, 'a')}}}}.dump(), 400,
      "over the limit of 16384");
  bad("GET", "/v1/threads/th_missing", "", 404, "no thread 'th_missing'");
  bad("GET", "/v1/threads/../../etc", "", 404, "not_found");
  auto thread = new_thread(d);
  bad("POST", "/v1/threads/" + thread + "/runs", "{}", 400, "'input' is required");
  bad("POST", "/v1/threads/" + thread + "/runs", R"({"input": 7})", 400,
      "'input' must be a string");
  bad("POST", "/v1/threads/" + thread + "/runs",
      R"({"input": "x", "busy": "maybe"})", 400, "'busy' must be");
  bad("POST", "/v1/threads/" + thread + "/steps", "{}", 404, "no such endpoint");
  bad("PUT", "/v1/threads/" + thread, "{}", 405, "PUT is not allowed");
}
