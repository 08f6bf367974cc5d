// The journal's behaviour, one suite for both backends (SQLite files, a
// PostgreSQL database of the test's own): what is acknowledged is stored
// and comes back after reopening; a refused write fails alone; threads
// keep their turns in order. Then what only one backend has.

#include "store/journal.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>

#include "store/postgres_journal.hpp"
#include "store/sqlite_journal.hpp"
#include "support/actors.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::store;
using namespace std::string_literals;

namespace {

/// Journals in files of a temporary directory.
struct sqlite_backend {
  test::temp_dir dir{"journal"};

  std::unique_ptr<journal> open() {
    auto j = open_sqlite_journal(dir.path / "tasks.db", false);
    INFO((j ? std::string{} : j.error().message));
    REQUIRE(j);
    return std::move(*j);
  }
};

/// Journals in a database of a server of the test's own.
struct postgres_backend {
  test::postgres_server server;
  std::string dsn = server.database();

  std::unique_ptr<journal> open() {
    pg_settings cfg;
    cfg.dsn = dsn;
    cfg.min_connections = 1;
    cfg.max_connections = 4;
    auto pool = pg_pool::open(cfg);
    INFO((pool ? std::string{} : pool.error().message));
    REQUIRE(pool);
    auto j = open_postgres_journal(std::shared_ptr<pg_pool>{std::move(*pool)});
    INFO((j ? std::string{} : j.error().message));
    REQUIRE(j);
    return std::move(*j);
  }
};

/// Waits for a write's acknowledgement.
template <class Start>
result<bool> acked(Start start) {
  std::mutex m;
  std::condition_variable cv;
  std::optional<result<bool>> out;
  start([&](result<bool> r) {
    std::lock_guard guard{m};
    out = std::move(r);
    cv.notify_one();
  });
  std::unique_lock lock{m};
  cv.wait(lock, [&] { return out.has_value(); });
  return *out;
}

result<bool> accept_sync(journal& j, journaled_task t) {
  return acked([&](auto done) { j.accept(std::move(t), done); });
}

journaled_task task(uint64_t id, std::string key = {}) {
  journaled_task t;
  t.id = id;
  t.principal = "alice";
  t.agent = "default";
  t.session = "s";
  t.input = "What is 2 + 2?";
  t.idempotency_key = std::move(key);
  t.request_hash = "h" + std::to_string(id);
  t.created_ms = now_ms();
  return t;
}

journaled_thread thread(const std::string& id) {
  journaled_thread t;
  t.id = id;
  t.principal = "alice";
  t.agent = "brief";
  t.metadata = R"({"topic":"sums"})";
  t.created_ms = now_ms();
  return t;
}

} // namespace

TEMPLATE_TEST_CASE("journaled tasks, steps and results survive reopening",
                   "[store][journal]", sqlite_backend, postgres_backend) {
  TestType backend;
  {
    auto j = backend.open();
    CHECK(j->max_id() == 0);
    REQUIRE(accept_sync(*j, task(1)));
    REQUIRE(accept_sync(*j, task(2, "key-a")));
    j->step(1, 0, R"({"calls":[]})");
    j->step(1, 1, R"({"calls":[1]})");
    j->finish(1, "completed", R"({"answer":"4"})");
    j->step(2, 0, R"({"calls":[2],"started":true})");
    // The same step again (it finished): the later record replaces it.
    j->step(2, 0, R"({"calls":[2]})");
  } // closing commits what is queued
  auto j = backend.open();
  CHECK(j->max_id() == 2);
  auto one = j->get(1);
  REQUIRE(one);
  CHECK(one->status == "completed");
  CHECK(one->result == R"({"answer":"4"})");
  CHECK(one->steps ==
        std::vector<std::string>{R"({"calls":[]})", R"({"calls":[1]})"});
  CHECK(one->principal == "alice");
  CHECK(one->agent == "default");
  CHECK(one->session == "s");
  CHECK(one->request_hash == "h1");
  CHECK(one->updated_ms >= one->created_ms);
  // An ended task's input is not kept (it may hold personal data); an
  // unfinished one keeps it, to be resumed.
  CHECK(one->input.empty());
  auto open = j->unfinished();
  REQUIRE(open.size() == 1);
  CHECK(open[0].id == 2);
  CHECK(open[0].input == "What is 2 + 2?");
  CHECK(open[0].steps == std::vector<std::string>{R"({"calls":[2]})"});
  auto by_key = j->find_idempotent("alice", "key-a");
  REQUIRE(by_key);
  CHECK(by_key->id == 2);
  CHECK(by_key->idempotency_key == "key-a");
  CHECK_FALSE(j->find_idempotent("bob", "key-a"));
  CHECK_FALSE(j->get(3));
}

TEMPLATE_TEST_CASE("an Idempotency-Key is journaled once per principal, and "
                   "a refused task fails alone",
                   "[store][journal]", sqlite_backend, postgres_backend) {
  TestType backend;
  auto j = backend.open();
  REQUIRE(accept_sync(*j, task(1, "same")));
  auto twice = accept_sync(*j, task(2, "same"));
  REQUIRE_FALSE(twice);
  INFO(twice.error().message);
  CHECK(twice.error().code == errc::invalid_input);
  REQUIRE(accept_sync(*j, task(3, "other")));
  CHECK(j->get(1));
  CHECK_FALSE(j->get(2));
  CHECK(j->get(3));
  auto bob = task(4, "same");
  bob.principal = "bob";
  CHECK(accept_sync(*j, bob));
  // A task id taken is refused too.
  CHECK_FALSE(accept_sync(*j, task(1)));
  // Many at once, a duplicate among them: each answered, only it refused,
  // in fewer commits than writes.
  std::mutex m;
  std::condition_variable cv;
  int answered = 0;
  int refused = 0;
  auto before = j->commits();
  for (uint64_t id = 10; id < 210; ++id)
    j->accept(task(id, id == 100 ? "same" : ""), [&](result<bool> r) {
      std::lock_guard guard{m};
      ++answered;
      refused += r ? 0 : 1;
      cv.notify_one();
    });
  std::unique_lock lock{m};
  cv.wait(lock, [&] { return answered == 200; });
  CHECK(refused == 1);
  CHECK(j->commits() - before < 200);
  CHECK(j->max_id() == 209);
  CHECK_FALSE(j->get(100));
  CHECK(j->get(101));
}

TEMPLATE_TEST_CASE("any text goes in and comes back as it was",
                   "[store][journal]", sqlite_backend, postgres_backend) {
  TestType backend;
  auto j = backend.open();
  auto t = task(1);
  t.input = "a NUL \0 here, quotes ' \" \\ and {\"json\"}"s +
            " and UTF-8: \xc3\xa9\xe2\x82\xac";
  REQUIRE(t.input.find('\0') == 6);
  REQUIRE(accept_sync(*j, t));
  auto back = j->get(1);
  REQUIRE(back);
  CHECK(back->input == t.input);
  REQUIRE(acked([&](auto done) { j->create_thread(thread("th_text"), done); }));
  auto summary = "it's \0 {\"x\"}"s;
  j->set_summary("th_text", summary, 2);
  j->flush();
  auto th = j->get_thread("th_text");
  REQUIRE(th);
  CHECK(th->summary == summary);
  CHECK(th->summarized == 2);
}

TEMPLATE_TEST_CASE("threads keep their turns in order, and their runs",
                   "[store][journal]", sqlite_backend, postgres_backend) {
  TestType backend;
  {
    auto j = backend.open();
    REQUIRE(acked([&](auto done) { j->create_thread(thread("th_a"), done); }));
    // The same id again: refused, alone.
    auto again =
      acked([&](auto done) { j->create_thread(thread("th_a"), done); });
    REQUIRE_FALSE(again);
    CHECK(again.error().code == errc::invalid_input);
    CHECK_FALSE(j->get_thread("th_b"));
    for (uint64_t run = 1; run <= 3; ++run) {
      auto t = task(run);
      t.thread = "th_a";
      REQUIRE(accept_sync(*j, t));
    }
    // Two turns in one batch, and a message with quotes and backslashes.
    j->finish_turn(1, "completed", "{}", "th_a",
                   {R"({"role":"user","content":"one \"1\" \\"})",
                    R"({"role":"assistant","content":"1"})"});
    j->finish_turn(2, "completed", "{}", "th_a",
                   {R"({"role":"user","content":"two"})",
                    R"({"role":"assistant","content":"2"})"});
    // A run that failed adds no turn.
    j->finish(3, "failed", "{}");
    // A turn for a thread that is gone adds nothing.
    j->finish_turn(4, "completed", "{}", "th_gone", {R"({"role":"user"})"});
    j->flush();
  }
  auto j = backend.open();
  auto t = j->get_thread("th_a");
  REQUIRE(t);
  CHECK(t->principal == "alice");
  CHECK(t->agent == "brief");
  CHECK(t->metadata == R"({"topic":"sums"})");
  CHECK(t->messages ==
        std::vector<std::string>{R"({"role":"user","content":"one \"1\" \\"})",
                                 R"({"role":"assistant","content":"1"})",
                                 R"({"role":"user","content":"two"})",
                                 R"({"role":"assistant","content":"2"})"});
  CHECK(t->runs == std::vector<std::pair<uint64_t, std::string>>{
                     {1, "completed"}, {2, "completed"}, {3, "failed"}});
  CHECK(t->updated_ms >= t->created_ms);
  CHECK_FALSE(j->get_thread("th_gone"));
  // Deleted: gone with its messages; its runs stay, as tasks.
  j->delete_thread("th_a");
  j->flush();
  CHECK_FALSE(j->get_thread("th_a"));
  CHECK(j->get(1));
  REQUIRE(acked([&](auto done) { j->create_thread(thread("th_a"), done); }));
  CHECK(j->get_thread("th_a")->messages.empty());
}

TEST_CASE("a SQLite journal that cannot be opened says where and why",
          "[store][journal]") {
  test::temp_dir dir;
  auto file = dir.path / "tasks.db";
  {
    std::ofstream out{file};
    out << std::string(4096, 'x'); // not a database
  }
  auto j = open_sqlite_journal(file, true);
  REQUIRE_FALSE(j);
  CHECK(j.error().message.find("cannot open the task journal '" +
                               file.string() + "'") == 0);
}

TEST_CASE("a SQLite journal from before summaries gets their columns",
          "[store][journal]") {
  test::temp_dir dir;
  auto file = dir.path / "tasks.db";
  {
    // The threads table as it was before summaries.
    SQLite::Database db{file.string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE};
    db.exec("CREATE TABLE threads(id TEXT PRIMARY KEY, principal TEXT NOT "
            "NULL, agent TEXT NOT NULL, metadata TEXT NOT NULL, created_ms "
            "INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID");
    db.exec("INSERT INTO threads VALUES('th_old', 'alice', 'default', '{}', "
            "1, 1)");
  }
  {
    auto j = open_sqlite_journal(file, true);
    REQUIRE(j);
    auto old = (*j)->get_thread("th_old");
    REQUIRE(old);
    CHECK(old->summary.empty());
    CHECK(old->summarized == 0);
    (*j)->set_summary("th_old", "They said hello.", 4);
    (*j)->set_summary("th_gone", "Nobody's.", 2);
  }
  auto j = open_sqlite_journal(file, true);
  REQUIRE(j);
  auto t = (*j)->get_thread("th_old");
  REQUIRE(t);
  CHECK(t->summary == "They said hello.");
  CHECK(t->summarized == 4);
  CHECK_FALSE((*j)->get_thread("th_gone"));
}

TEST_CASE("a PostgreSQL journal refuses a schema newer than its own, and "
          "says when the server is gone",
          "[store][journal]") {
  postgres_backend backend;
  {
    auto j = backend.open();
    REQUIRE(accept_sync(*j, task(1)));
  }
  {
    pg_settings cfg;
    cfg.dsn = backend.dsn;
    auto c = pg_connection::open(cfg);
    REQUIRE(c);
    REQUIRE((*c)->exec("UPDATE troupe_schema SET version = 99 WHERE "
                       "component = 'journal'"));
    auto pool = pg_pool::open(cfg);
    REQUIRE(pool);
    auto j = open_postgres_journal(std::shared_ptr<pg_pool>{std::move(*pool)});
    REQUIRE_FALSE(j);
    CHECK(j.error().code == errc::invalid_config);
    CHECK_THAT(j.error().message, Catch::Contains("schema version 99"));
    REQUIRE((*c)->exec("UPDATE troupe_schema SET version = 1"));
  }
  auto j = backend.open();
  backend.server.stop("immediate");
  // The write is not stored, and says why; reads find nothing; nothing
  // counts as committed.
  auto commits = j->commits();
  auto lost = accept_sync(*j, task(2));
  REQUIRE_FALSE(lost);
  CHECK(j->commits() == commits);
  CHECK(lost.error().code == errc::role_down);
  CHECK_THAT(lost.error().message, Catch::Contains("could not commit"));
  CHECK_FALSE(j->get(1));
  backend.server.start();
  // Back: the pool reconnects by itself.
  CHECK(test::wait_until(
    [&] { return static_cast<bool>(accept_sync(*j, task(2))); },
    std::chrono::seconds{20}));
  CHECK(j->get(1));
}

TEMPLATE_TEST_CASE("task ids are new: above every stored one, also after "
                   "reopening",
                   "[store][journal]", sqlite_backend, postgres_backend) {
  TestType backend;
  uint64_t last = 0;
  {
    auto j = backend.open();
    auto a = j->next_id();
    auto b = j->next_id();
    CHECK(a >= 1);
    CHECK(b > a);
    REQUIRE(accept_sync(*j, task(b)));
    last = b;
  }
  auto j = backend.open();
  CHECK(j->next_id() > last);
}

TEST_CASE("replicas sharing a PostgreSQL journal never get the same task id",
          "[store][journal]") {
  postgres_backend backend;
  auto a = backend.open();
  auto b = backend.open();
  std::set<uint64_t> seen;
  // Across block boundaries: 3,000 each, interleaved.
  for (int i = 0; i < 3000; ++i) {
    CHECK(seen.insert(a->next_id()).second);
    CHECK(seen.insert(b->next_id()).second);
  }
  CHECK(seen.size() == 6000);
  CHECK_FALSE(seen.count(0));
  backend.server.stop("immediate");
  // No store, no new block: 0 (the API says 503), once a's block is used.
  uint64_t got = 1;
  for (int i = 0; i < 2000 && got != 0; ++i)
    got = a->next_id();
  CHECK(got == 0);
}
