// `troupe serve` with its journal in PostgreSQL (a server of the test's
// own): tasks and threads stored there survive the daemon's kill -9;
// while the database is down the daemon is not ready and refuses new
// work with the reason, and it recovers by itself when the database is
// back; a bad DSN is a clear error at start.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>

#include "support/actors.hpp"
#include "support/daemon.hpp"
#include "support/postgres.hpp"

using namespace troupe::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json on_postgres(const std::string& dsn) {
  return {{"store",
           {{"backend", "postgres"},
            {"postgres",
             {{"dsn", dsn}, {"min_connections", 1}, {"max_connections", 4}}}}}};
}

json task_of(const daemon_proc& d, uint64_t id) {
  auto res = d.call("GET", "/v1/tasks/" + std::to_string(id));
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return json::parse(res->body);
}

} // namespace

TEST_CASE("a daemon on PostgreSQL keeps its tasks and threads across kill -9",
          "[store][serve]") {
  postgres_server pg;
  daemon_proc d{on_postgres(pg.database())};
  auto id = d.submit("What is 6 * 7?");
  auto events = d.follow(id);
  REQUIRE_FALSE(events.empty());
  CHECK(json::parse(events.back().second)["result"]["answer"] == "6 * 7 = 42.");
  auto made =
    d.call("POST", "/v1/threads", json{{"metadata", {{"k", 1}}}}.dump());
  REQUIRE(made->status == 201);
  auto thread = json::parse(made->body)["id"].get<std::string>();
  auto run = d.call("POST", "/v1/threads/" + thread + "/runs",
                    json{{"input", "What is 2 + 2?"}, {"stream", true}}.dump());
  REQUIRE(run->status == 200);
  // The same Idempotency-Key twice: one task.
  std::vector<std::pair<std::string, std::string>> key{
    {"Idempotency-Key", "k-1"}};
  auto first = d.call("POST", "/v1/tasks",
                      json{{"input", "What is 1 + 1?"}}.dump(), admin_key, key);
  auto again = d.call("POST", "/v1/tasks",
                      json{{"input", "What is 1 + 1?"}}.dump(), admin_key, key);
  REQUIRE(first->status == 202);
  REQUIRE(again->status == 200);
  CHECK(json::parse(again->body)["id"] == json::parse(first->body)["id"]);
  d.proc->stop(SIGKILL, 10s);
  // The data directory goes too: everything is in the database.
  std::filesystem::remove_all(d.dir.path / "data");
  d.start();
  auto t = task_of(d, id);
  CHECK(t["status"] == "completed");
  CHECK(t["result"]["answer"] == "6 * 7 = 42.");
  auto th = d.call("GET", "/v1/threads/" + thread);
  REQUIRE(th->status == 200);
  auto body = json::parse(th->body);
  CHECK(body["metadata"] == json{{"k", 1}});
  CHECK(body["messages"].size() == 4);
  // New ids go on after the old ones.
  CHECK(d.submit("What is 3 + 3?") >
        json::parse(first->body)["id"].get<uint64_t>());
}

TEST_CASE("a daemon whose database goes away is not ready, refuses work with "
          "the reason, and comes back by itself",
          "[store][serve]") {
  postgres_server pg;
  daemon_proc d{on_postgres(pg.database())};
  auto ready = [&] {
    auto r = d.call("GET", "/ready", {}, nullptr);
    return r && r->status == 200;
  };
  REQUIRE(ready());
  pg.stop("immediate");
  // The first write finds the server gone; from then on the pool is down.
  auto refused =
    d.call("POST", "/v1/tasks", json{{"input", "What is 1 + 1?"}}.dump());
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(error_code(refused) == "journal_unavailable");
  REQUIRE(wait_until([&] {
    auto r = d.call("GET", "/ready", {}, nullptr);
    return r && r->status == 503 &&
           r->body.find("the store is unreachable") != std::string::npos;
  }));
  auto metrics = d.call("GET", "/metrics", {}, nullptr);
  REQUIRE(metrics);
  CHECK(metrics->body.find("troupe_store_up 0") != std::string::npos);
  pg.start();
  REQUIRE(wait_until(ready, 20s));
  auto id = d.submit("What is 2 + 2?");
  auto events = d.follow(id);
  REQUIRE_FALSE(events.empty());
  CHECK(json::parse(events.back().second)["status"] == "completed");
  metrics = d.call("GET", "/metrics", {}, nullptr);
  CHECK(metrics->body.find("troupe_store_up 1") != std::string::npos);
  CHECK(metrics->body.find(
          "troupe_store_pool_events_total{kind=\"reconnect\"} 1") !=
        std::string::npos);
}

TEST_CASE("a daemon told to use PostgreSQL without a database, or an "
          "unreachable one, says so at start",
          "[store][serve]") {
  temp_dir dir{"serve-pg"};
  auto config = dir.path / "troupe.json";
  auto start = [&](json cfg, std::vector<std::string> env = {}) {
    std::ofstream{config} << cfg.dump();
    std::vector<std::string> args{
      "/usr/bin/env", "-u", "TROUPE_STORE_DSN", "-u",
      "DATABASE_URL", "-u", "TROUPE_API_KEYS"};
    args.insert(args.end(), env.begin(), env.end());
    args.insert(args.end(), {cli_path(), "serve", "--config", config.string(),
                             "--data-dir", (dir.path / "data").string()});
    return run_process(args, 30s);
  };
  auto none = start({{"store", {{"backend", "postgres"}}}});
  CHECK(none.exit_code == 2);
  CHECK_THAT(none.err, Catch::Contains("TROUPE_STORE_DSN or DATABASE_URL"));
  auto port = free_port();
  auto gone = start({{"store", {{"backend", "postgres"}}}},
                    {"DATABASE_URL=postgresql://app:s3cret@127.0.0.1:" +
                     std::to_string(port) + "/x"});
  CHECK(gone.exit_code == 1);
  CHECK_THAT(gone.err, Catch::Contains("cannot connect to PostgreSQL at "
                                       "'postgresql://app:***@127.0.0.1"));
  CHECK_THAT(gone.err, !Catch::Contains("s3cret"));
  auto bad = start({{"store", {{"backend", "oracle"}}}});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err,
             Catch::Contains("store.backend must be sqlite or postgres"));
}

TEST_CASE("retention: the daemon prunes finished tasks past store.retention "
          "and counts them; troupe store shows, prunes and migrates",
          "[store][serve][retention]") {
  json retention{{"max_tasks", 2}, {"max_age_hours", 0}, {"every_ms", 1000}};
  daemon_proc d{{{"store", {{"retention", retention}}}}};
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(d.submit("What is " + std::to_string(i) + " + 2?"));
    d.follow(ids.back());
  }
  REQUIRE(wait_until(
    [&] {
      auto m = d.call("GET", "/metrics", {}, nullptr);
      return m && m->body.find("troupe_store_pruned_total 3") !=
                    std::string::npos;
    },
    20s));
  CHECK(d.call("GET", "/v1/tasks/" + std::to_string(ids[4]))->status == 200);
  REQUIRE(d.proc->stop(SIGTERM, 20s));

  auto data = (d.dir.path / "data").string();
  auto store = [&](std::vector<std::string> args, json cfg = json::object()) {
    auto file = d.dir.path / "store.json";
    std::ofstream{file} << cfg.dump();
    std::vector<std::string> cmd{"/usr/bin/env", "-u", "TROUPE_API_KEYS",
                                 cli_path(),     "store"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    cmd.insert(cmd.end(), {"--config", file.string(), "--data-dir", data});
    return run_process(cmd, 30s);
  };
  auto shown = store({"--json"});
  REQUIRE(shown.exit_code == 0);
  auto info = json::parse(shown.out);
  CHECK(info["backend"] == "sqlite");
  CHECK(info["schema_version"] == 2);
  // The two newest: the rest were pruned.
  CHECK(info["tasks"]["finished"] == 2);
  CHECK(info["tasks"]["unfinished"] == 0);
  CHECK(info["bytes"].get<int64_t>() > 0);
  auto pruned =
    store({"prune"}, {{"store", {{"retention", {{"max_tasks", 1}}}}}});
  REQUIRE(pruned.exit_code == 0);
  CHECK_THAT(pruned.out, Catch::Contains("pruned 1 finished task(s)"));
  auto wrong = store({"vacuum"});
  CHECK(wrong.exit_code == 2);
  CHECK_THAT(wrong.err, Catch::Contains("unknown store subcommand 'vacuum'"));
  // No journal yet: shown as such, not created.
  data = (d.dir.path / "empty").string();
  auto none = store({});
  REQUIRE(none.exit_code == 0);
  CHECK_THAT(none.out, Catch::Contains("no task journal yet"));
  CHECK_FALSE(std::filesystem::exists(d.dir.path / "empty" / "tasks.db"));

  // PostgreSQL: migrate creates the tables; show names the database.
  postgres_server pg;
  auto dsn = pg.database();
  auto migrated = store({"migrate"}, on_postgres(dsn));
  INFO(migrated.err);
  REQUIRE(migrated.exit_code == 0);
  CHECK_THAT(migrated.out,
             Catch::Contains("the postgres store is at schema version 2"));
  auto on_pg = store({"--json"}, on_postgres(dsn));
  REQUIRE(on_pg.exit_code == 0);
  auto pg_info = json::parse(on_pg.out);
  CHECK(pg_info["backend"] == "postgres");
  CHECK(pg_info["tasks"]["finished"] == 0);
  CHECK(pg_info["bytes"].get<int64_t>() > 0);
}
