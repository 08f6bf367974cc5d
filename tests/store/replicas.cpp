// Two `troupe serve` replicas on one PostgreSQL database (a server of the
// test's own): a task submitted to one is read and followed live on the
// other; a replica killed with tasks in flight has them finished by the
// other, each step once; one stopped past its lease is fenced when it comes
// back; a thread runs one run at a time across both; and a database
// restarted under load costs refusals with the reason, never a task.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <set>
#include <thread>

#include "support/actors.hpp"
#include "support/daemon.hpp"
#include "support/model_server.hpp"
#include "support/postgres.hpp"

using namespace troupe::test;
using namespace std::chrono_literals;
using nlohmann::json;
using plan = troupe::test::model_server::plan;

namespace {

/// A replica on `dsn` whose leases last 1 s.
json replica(const std::string& dsn, json extra = json::object()) {
  json cfg{
    {"store",
     {{"backend", "postgres"},
      {"lease_ms", 1000},
      {"postgres",
       {{"dsn", dsn}, {"min_connections", 1}, {"max_connections", 4}}}}}};
  cfg.merge_patch(extra);
  return cfg;
}

/// A replica whose provider is `srv`.
json replica(const std::string& dsn, const model_server& srv) {
  return replica(dsn, json{{"provider", provider_json(srv)}});
}

/// The model server parks its next request (until `release()`) and
/// answers the others at once.
void park_next(model_server& srv) {
  srv.script([next = srv.requests().size()](size_t n, const json&) {
    plan p;
    if (n == next)
      p.delay = -1ms;
    return p;
  });
}

/// The value of the metric line starting with `series` (-1 if none).
double metric(const daemon_proc& d, const std::string& series) {
  auto res = d.call("GET", "/metrics", {}, nullptr);
  if (!res || res->status != 200)
    return -1;
  auto at = res->body.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(res->body.substr(at + series.size() + 2));
}

json task_of(const daemon_proc& d, uint64_t id) {
  auto res = d.call("GET", "/v1/tasks/" + std::to_string(id));
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}

/// The step indexes of a task's JSON, in order.
std::vector<uint64_t> step_indexes(const json& t) {
  std::vector<uint64_t> out;
  for (auto& s : t["steps"])
    out.push_back(s["index"].get<uint64_t>());
  return out;
}

/// Replicas A and B on one database, with one model server that parks
/// its first request.
struct two_replicas {
  postgres_server pg;
  std::string dsn = pg.database();
  model_server srv;
  daemon_proc a;
  daemon_proc b;

  two_replicas()
    : a{(park_next(srv), replica(dsn, srv))}, b{replica(dsn, srv)} {}

  /// Submits `input` to A; returns its id once its model call is parked.
  uint64_t submit_parked(const std::string& input) {
    auto id = a.submit(input);
    REQUIRE(wait_until([&] { return srv.waiting() == 1; }));
    return id;
  }
};

} // namespace

TEST_CASE("a task submitted to one replica is read and followed live on "
          "another; an Idempotency-Key replays on either",
          "[store][replicas]") {
  two_replicas r;
  auto& a = r.a;
  auto& b = r.b;
  auto& srv = r.srv;
  auto id = r.submit_parked("What is 2 + 2?");
  auto seen = task_of(b, id);
  CHECK(seen["status"] == "running");
  std::optional<http_response> followed;
  std::thread follower{[&] {
    followed = b.call("GET", "/v1/tasks/" + std::to_string(id) + "/events");
  }};
  // B follows it (through what A commits) before it goes on.
  bool following = wait_until(
    [&] { return metric(b, "troupe_streams_following_elsewhere") == 1; });
  srv.release();
  follower.join();
  REQUIRE(following);
  REQUIRE(followed);
  REQUIRE(followed->status == 200);
  auto events = parse_events(followed->body);
  REQUIRE(events.size() >= 2);
  CHECK(events.front().first == "step");
  CHECK(events.back().first == "result");
  auto end = json::parse(events.back().second);
  CHECK(end["status"] == "completed");
  CHECK(end["result"]["answer"].get<std::string>().find("4") !=
        std::string::npos);
  CHECK(metric(b, "troupe_streams_following_elsewhere") == 0);
  // Either replica answers for it, the same.
  CHECK(task_of(b, id)["status"] == "completed");
  CHECK(task_of(a, id)["steps"] == task_of(b, id)["steps"]);
  // One key, one task, whichever replica gets the request.
  std::vector<std::pair<std::string, std::string>> key{
    {"Idempotency-Key", "replicas-1"}};
  auto body = json{{"input", "What is 1 + 1?"}}.dump();
  auto first = a.call("POST", "/v1/tasks", body, admin_key, key);
  auto again = b.call("POST", "/v1/tasks", body, admin_key, key);
  REQUIRE(first);
  REQUIRE(again);
  CHECK(first->status == 202);
  CHECK(again->status == 200);
  CHECK(json::parse(again->body)["replayed"] == true);
  CHECK(json::parse(again->body)["id"] == json::parse(first->body)["id"]);
}

TEST_CASE("a replica killed with tasks in flight: another finishes every "
          "acknowledged task, each step once",
          "[store][replicas]") {
  postgres_server pg;
  auto dsn = pg.database();
  // Every other planner request of A stalls: some tasks are in flight
  // when it dies.
  daemon_proc a{replica(
    dsn, json{{"faults", {{"planner", {{"mode", "stall"}, {"every", 2}}}}}})};
  daemon_proc b{replica(dsn)};
  std::vector<uint64_t> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back(a.submit("What is " + std::to_string(i) + " + 1?"));
  REQUIRE(a.proc->stop(SIGKILL, 10s));
  size_t resumed = 0;
  for (auto id : ids) {
    auto events = b.follow(id);
    REQUIRE_FALSE(events.empty());
    INFO("task " << id << ": " << events.back().second);
    auto end = json::parse(events.back().second);
    CHECK(end["status"] == "completed");
    resumed += end["result"]["notes"].dump().find("resumed after a restart") !=
               std::string::npos;
    // Steps 0, 1, … each once: none ran again after the takeover.
    auto indexes = step_indexes(task_of(b, id));
    for (size_t i = 0; i < indexes.size(); ++i)
      CHECK(indexes[i] == i);
  }
  CHECK(resumed > 0);
  CHECK(metric(b, "troupe_task_leases_total{event=\"taken_over\"}") ==
        static_cast<double>(resumed));
}

TEST_CASE("a replica stopped past its lease is fenced when it comes back: "
          "the replica that took over keeps the task",
          "[store][replicas]") {
  two_replicas r;
  auto& a = r.a;
  auto& b = r.b;
  auto& srv = r.srv;
  auto id = r.submit_parked("What is 3 + 4?");
  // A stops (a long pause, a partition): its lease expires, B takes over
  // and finishes the task with the model's next answer.
  a.proc->signal(SIGSTOP);
  auto events = b.follow(id);
  a.proc->signal(SIGCONT);
  REQUIRE_FALSE(events.empty());
  auto end = json::parse(events.back().second);
  CHECK(end["status"] == "completed");
  CHECK(metric(b, "troupe_task_leases_total{event=\"taken_over\"}") == 1);
  // A's model call answers now: what A writes for the task is refused.
  srv.release();
  REQUIRE(wait_until(
    [&] {
      return metric(a, "troupe_task_leases_total{event=\"fenced\"}") == 1;
    },
    20s));
  auto kept = task_of(b, id);
  CHECK(kept["status"] == "completed");
  CHECK(kept["step_under_way"].is_null());
  CHECK(kept["result"] == end["result"]);
  CHECK(task_of(a, id) == kept);
  CHECK(metric(a, "agent_active_tasks") == 0);
}

TEST_CASE("a thread runs one run at a time across replicas",
          "[store][replicas]") {
  two_replicas r;
  auto& a = r.a;
  auto& b = r.b;
  auto& srv = r.srv;
  auto made = a.call("POST", "/v1/threads", "{}");
  REQUIRE(made);
  REQUIRE(made->status == 201);
  auto thread = json::parse(made->body)["id"].get<std::string>();
  auto runs = "/v1/threads/" + thread + "/runs";
  auto first = a.call("POST", runs, json{{"input", "What is 1 + 1?"}}.dump());
  REQUIRE(first);
  REQUIRE(first->status == 202);
  REQUIRE(wait_until([&] { return srv.waiting() == 1; }));
  // B refuses a second run while A's goes on, or queues it after.
  auto busy = b.call("POST", runs, json{{"input", "And 2 + 2?"}}.dump());
  CHECK(error_code(busy) == "thread_busy");
  auto queued = b.call("POST", runs,
                       json{{"input", "And 2 + 2?"}, {"busy", "queue"}}.dump());
  REQUIRE(queued);
  REQUIRE(queued->status == 202);
  CHECK(json::parse(queued->body)["status"] == "queued");
  auto second = json::parse(queued->body)["id"].get<uint64_t>();
  CHECK(task_of(b, second)["status"] == "running");
  // A's run ends; B's starts then, with A's turn in its history.
  srv.release();
  auto events = b.follow(second);
  REQUIRE_FALSE(events.empty());
  CHECK(json::parse(events.back().second)["status"] == "completed");
  auto th = a.call("GET", "/v1/threads/" + thread);
  REQUIRE(th);
  auto messages = json::parse(th->body)["messages"];
  std::vector<std::string> users;
  for (auto& m : messages)
    if (m["role"] == "user")
      users.push_back(m["content"]);
  CHECK(users == std::vector<std::string>{"What is 1 + 1?", "And 2 + 2?"});
  // B's run was asked after A's ended: its request holds A's turn.
  auto seen = srv.requests();
  REQUIRE(seen.size() >= 3);
  CHECK(seen.back().body.dump().find("What is 1 + 1?") != std::string::npos);
}

TEST_CASE("a database restarted under load: refusals say why, no "
          "acknowledged task is lost, and the daemon recovers by itself",
          "[store][replicas]") {
  postgres_server pg;
  daemon_proc d{replica(pg.database())};
  std::atomic<bool> stop{false};
  std::atomic<size_t> acked{0};
  std::vector<uint64_t> accepted;
  std::set<std::string> refusals;
  size_t other = 0;
  std::thread load{[&] {
    while (!stop) {
      auto res =
        d.call("POST", "/v1/tasks", json{{"input", "What is 5 + 5?"}}.dump());
      if (res && res->status == 202) {
        accepted.push_back(json::parse(res->body)["id"].get<uint64_t>());
        ++acked;
      } else if (res && res->status == 503)
        refusals.insert(json::parse(res->body)["error"]["code"]);
      else
        ++other;
    }
  }};
  REQUIRE(wait_until([&] { return acked >= 5; }));
  pg.stop("immediate");
  pg.start();
  // Refused while it was down, accepted again once it is back.
  auto ready = [&] {
    auto r = d.call("GET", "/ready", {}, nullptr);
    return r && r->status == 200;
  };
  REQUIRE(wait_until(ready, 20s));
  auto at_restart = acked.load();
  REQUIRE(wait_until([&] { return acked > at_restart + 5; }));
  stop = true;
  load.join();
  CHECK(other == 0);
  for (auto& code : refusals)
    CHECK(code == "journal_unavailable");
  auto again = d.submit("What is 6 + 6?");
  accepted.push_back(again);
  for (auto id : accepted) {
    auto events = d.follow(id);
    REQUIRE_FALSE(events.empty());
    INFO("task " << id << ": " << events.back().second);
    CHECK(json::parse(events.back().second)["status"] == "completed");
  }
}

TEST_CASE("a task is cancelled from any replica: the one running it stops "
          "it; a run queued behind its thread's never starts",
          "[store][replicas]") {
  two_replicas r;
  auto& a = r.a;
  auto& b = r.b;
  auto& srv = r.srv;
  auto id = r.submit_parked("What is 8 + 8?");
  auto cancel = b.call("DELETE", "/v1/tasks/" + std::to_string(id));
  REQUIRE(cancel);
  CHECK(cancel->status == 202);
  auto events = b.follow(id);
  REQUIRE_FALSE(events.empty());
  CHECK(json::parse(events.back().second)["status"] == "cancelled");
  CHECK(task_of(a, id)["status"] == "cancelled");
  // Ended: a second cancel says so, on either.
  auto again = a.call("DELETE", "/v1/tasks/" + std::to_string(id));
  CHECK(error_code(again) == "already_finished");
  srv.release();

  // A thread whose run waits on A (parked again) has a second run queued
  // on B; cancelling it on A (not its replica) ends it before it starts.
  park_next(srv);
  auto made = a.call("POST", "/v1/threads", "{}");
  REQUIRE(made);
  auto thread = json::parse(made->body)["id"].get<std::string>();
  auto runs = "/v1/threads/" + thread + "/runs";
  auto first = a.call("POST", runs, json{{"input", "What is 1 + 1?"}}.dump());
  REQUIRE(first);
  REQUIRE(first->status == 202);
  REQUIRE(wait_until([&] { return srv.waiting() == 1; }));
  auto queued = b.call("POST", runs,
                       json{{"input", "And 2 + 2?"}, {"busy", "queue"}}.dump());
  REQUIRE(queued);
  REQUIRE(queued->status == 202);
  auto second = json::parse(queued->body)["id"].get<uint64_t>();
  auto stop = b.call("DELETE", "/v1/tasks/" + std::to_string(second));
  REQUIRE(stop);
  CHECK(stop->status == 202);
  auto ended = a.follow(second);
  REQUIRE_FALSE(ended.empty());
  CHECK(json::parse(ended.back().second)["status"] == "cancelled");
  srv.release();
  auto done = a.follow(json::parse(first->body)["id"].get<uint64_t>());
  CHECK(json::parse(done.back().second)["status"] == "completed");
  // Only the first run's turn is in the thread.
  auto th = b.call("GET", "/v1/threads/" + thread);
  REQUIRE(th);
  std::vector<std::string> users;
  auto kept = json::parse(th->body);
  for (auto& m : kept["messages"])
    if (m["role"] == "user")
      users.push_back(m["content"]);
  CHECK(users == std::vector<std::string>{"What is 1 + 1?"});
}
