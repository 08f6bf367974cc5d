// Conversation threads through `troupe serve`: a run gives the model the
// thread's earlier turns (within the agent's history budget, whole turns
// only), one run at a time, durable across kill -9, each principal's own.

#include <future>

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
  json cfg{{"provider", provider_json(srv)}};
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

namespace {

/// True if `body` is a summary request: no tools, the summarizer's
/// instructions first.
bool asks_for_summary(const json& body) {
  return !body.contains("tools") && body["messages"].size() == 2 &&
         body["messages"][0]["content"].get<std::string>().rfind(
           "You summarize", 0) == 0;
}

/// Agent "brief": a small history budget, summarized past it.
const json summarizing{
  {"agents", {{"brief", {{"history_tokens", 300}, {"history", "summarize"}}}}}};

/// Turn 1 of a thread of "brief", over the budget by itself.
const std::string long_one = "What is 1 + 1? " + std::string(2000, 'x');

} // namespace

TEST_CASE("history: summarize gives the model a summary of the turns past "
          "the budget",
          "[daemon][threads]") {
  model_server srv;
  size_t summaries = 0;
  srv.script([&](size_t, const json& body) {
    plan p;
    if (asks_for_summary(body)) {
      p.normal = false;
      p.body = text_answer("SUMMARY-" + std::to_string(++summaries));
    }
    return p;
  });
  daemon_proc d{on_model(srv, summarizing)};
  auto thread = new_thread(d, {{"agent", "brief"}});
  CHECK(turn(d, thread, long_one) == "completed");
  CHECK(turn(d, thread, "What is 2 + 2?") == "completed");
  CHECK(turn(d, thread, "What is 3 + 3?") == "completed");
  auto seen = srv.requests();
  // Run 1: two requests; run 2: the summary of turn 1, then two; run 3:
  // two (turn 2 still fits beside the summary).
  REQUIRE(seen.size() == 7);
  REQUIRE(asks_for_summary(seen[2].body));
  auto transcript = seen[2].body["messages"][1]["content"].get<std::string>();
  CHECK_THAT(transcript, Catch::Contains("User: " + long_one));
  CHECK_THAT(transcript, Catch::Contains("Assistant called calculator("));
  CHECK_THAT(transcript, Catch::Contains("Assistant: The answer is 2."));
  // Run 2 sees the summary instead of turn 1; run 3 the summary and turn 2.
  for (size_t i : {3, 5}) {
    INFO("request " << i);
    auto& first = seen[i].body["messages"][0];
    CHECK(first["role"] == "system");
    CHECK_THAT(first["content"].get<std::string>(),
               Catch::EndsWith("\nSUMMARY-1"));
  }
  CHECK(user_turns(seen[3].body) == std::vector<std::string>{"What is 2 + 2?"});
  CHECK(user_turns(seen[5].body) ==
        std::vector<std::string>{"What is 2 + 2?", "What is 3 + 3?"});
  // Past the summary, turn 1 reaches the model no more.
  for (size_t i = 3; i < seen.size(); ++i)
    CHECK(seen[i].body.dump().find(std::string(2000, 'x')) == std::string::npos);
  // The thread keeps every turn, and the summary of its first 4 messages.
  auto t = get_thread(d, thread);
  CHECK(t["messages"].size() == 12);
  CHECK(t["summary"] == json{{"text", "SUMMARY-1"}, {"covers", 4}});
}

TEST_CASE("history: summarize goes on without the old turns when the "
          "summary fails, and tries again next run",
          "[daemon][threads]") {
  model_server srv;
  size_t asked = 0;
  srv.script([&](size_t, const json& body) {
    plan p;
    if (asks_for_summary(body)) {
      p.normal = false;
      if (++asked == 1) {
        p.status = 500;
        p.body = R"({"error":{"message":"down"}})";
      } else {
        p.body = text_answer("SUMMARY-OK");
      }
    }
    return p;
  });
  daemon_proc d{on_model(srv, summarizing)};
  auto thread = new_thread(d, {{"agent", "brief"}});
  CHECK(turn(d, thread, long_one) == "completed");
  // The summary fails: run 2 goes on with what fits, and no summary.
  CHECK(turn(d, thread, "What is 2 + 2?") == "completed");
  CHECK_FALSE(get_thread(d, thread).contains("summary"));
  auto seen = srv.requests();
  REQUIRE(seen.size() == 5);
  CHECK(asks_for_summary(seen[2].body));
  CHECK(seen[3].body["messages"][0]["role"] == "user");
  CHECK(user_turns(seen[3].body) == std::vector<std::string>{"What is 2 + 2?"});
  // Run 3 asks again, for turn 1 (turn 2 still fits).
  CHECK(turn(d, thread, "What is 3 + 3?") == "completed");
  seen = srv.requests();
  REQUIRE(seen.size() == 8);
  CHECK(asks_for_summary(seen[5].body));
  CHECK(get_thread(d, thread)["summary"] ==
        json{{"text", "SUMMARY-OK"}, {"covers", 4}});
}

TEST_CASE("a run cancelled while its summary is being made ends at once",
          "[daemon][threads]") {
  model_server srv;
  // The summary never comes.
  srv.script([&](size_t, const json& body) {
    plan p;
    if (asks_for_summary(body))
      p.delay = -1ms;
    return p;
  });
  daemon_proc d{on_model(srv, summarizing)};
  auto thread = new_thread(d, {{"agent", "brief"}});
  CHECK(turn(d, thread, long_one) == "completed");
  auto id = run(d, thread, "What is 2 + 2?");
  REQUIRE(wait_until([&] { return srv.waiting() == 1; }));
  auto cancel = d.call("DELETE", "/v1/tasks/" + std::to_string(id));
  REQUIRE(cancel);
  CHECK(cancel->status == 202);
  auto events = d.follow(id);
  REQUIRE(!events.empty());
  CHECK(json::parse(events.back().second)["status"] == "cancelled");
  // It never reached the model, and added nothing.
  CHECK(srv.requests().size() == 3);
  CHECK(get_thread(d, thread)["messages"].size() == 4);
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

TEST_CASE("a run with stream: true answers with its events; a queued "
          "run's events come once it starts",
          "[daemon][threads]") {
  SECTION("a run that starts at once") {
    daemon_proc d;
    auto thread = new_thread(d);
    auto res = d.call("POST", "/v1/threads/" + thread + "/runs",
                      json{{"input", "What is 2 + 2?"}, {"stream", true}}.dump());
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(res->headers["content-type"].rfind("text/event-stream", 0) == 0);
    auto events = parse_sse(res->body);
    REQUIRE(events.size() >= 3);
    CHECK(events.front().event == "run");
    auto accepted = json::parse(events.front().data);
    CHECK(accepted["thread"] == thread);
    CHECK(accepted["status"] == "running");
    CHECK(events.back().event == "result");
    auto result = json::parse(events.back().data);
    CHECK(result["id"] == accepted["id"]);
    CHECK(result["status"] == "completed");
    std::string text;
    uint64_t last = 0;
    for (auto& e : events) {
      auto id = std::stoull(e.id);
      CHECK(id > last);
      last = id;
      if (e.event == "token")
        text += json::parse(e.data)["delta"].get<std::string>();
    }
    CHECK(text == result["result"]["answer"]);
    CHECK(get_thread(d, thread)["messages"].size() == 4);
    auto bad = d.call("POST", "/v1/threads/" + thread + "/runs",
                      json{{"input", "hi"}, {"stream", "yes"}}.dump());
    CHECK(bad->status == 400);
    CHECK_THAT(bad->body, Catch::Contains("'stream' must be true or false"));
  }
  SECTION("a run queued behind another") {
    daemon_proc d{{{"faults", {{"planner", {{"mode", "stall"}, {"rate", 1}}}}}}};
    auto thread = new_thread(d);
    auto first = run(d, thread, "What is 1 + 1?");
    auto streamed = std::async(std::launch::async, [&] {
      return d.call("POST", "/v1/threads/" + thread + "/runs",
                    json{{"input", "What is 2 + 2?"},
                         {"busy", "queue"},
                         {"stream", true}}
                      .dump());
    });
    // The queued run is there: GET /v1/tasks/{id}/events waits for it too.
    uint64_t second = 0;
    REQUIRE(wait_until([&] {
      auto runs = get_thread(d, thread)["runs"];
      if (runs.size() < 2)
        return false;
      second = runs[1]["id"].get<uint64_t>();
      return true;
    }));
    CHECK(get_thread(d, thread)["runs"][1]["status"] == "queued");
    auto followed = std::async(std::launch::async, [&] { return d.follow(second); });
    // The first ends; the second starts (and stalls); cancelled, it ends.
    REQUIRE(d.call("DELETE", "/v1/tasks/" + std::to_string(first))->status == 202);
    REQUIRE(wait_until([&] {
      return get_thread(d, thread)["runs"][1]["status"] == "running";
    }));
    auto cancel = d.call("DELETE", "/v1/tasks/" + std::to_string(second));
    REQUIRE(cancel->status == 202);
    auto res = streamed.get();
    REQUIRE(res);
    REQUIRE(res->status == 200);
    auto events = parse_sse(res->body);
    REQUIRE(events.size() >= 2);
    CHECK(events.front().event == "run");
    CHECK(json::parse(events.front().data)["status"] == "queued");
    CHECK(json::parse(events.front().data)["id"] == second);
    CHECK(events.back().event == "result");
    CHECK(json::parse(events.back().data)["status"] == "cancelled");
    auto other = followed.get();
    REQUIRE(!other.empty());
    CHECK(other.back().first == "result");
    CHECK(json::parse(other.back().second)["status"] == "cancelled");
  }
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
