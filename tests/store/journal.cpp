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

  std::unique_ptr<journal> open(lease_settings lease = {}) {
    auto j = open_sqlite_journal(dir.path / "tasks.db", false, lease);
    INFO((j ? std::string{} : j.error().message));
    REQUIRE(j);
    return std::move(*j);
  }
};

/// Journals in a database of a server of the test's own.
struct postgres_backend {
  test::postgres_server server;
  std::string dsn = server.database();

  std::unique_ptr<journal> open(lease_settings lease = {}) {
    pg_settings cfg;
    cfg.dsn = dsn;
    cfg.min_connections = 1;
    cfg.max_connections = 4;
    auto pool = pg_pool::open(cfg);
    INFO((pool ? std::string{} : pool.error().message));
    REQUIRE(pool);
    auto j =
      open_postgres_journal(std::shared_ptr<pg_pool>{std::move(*pool)}, lease);
    INFO((j ? std::string{} : j.error().message));
    REQUIRE(j);
    return std::move(*j);
  }
};

/// Waits for a write's acknowledgement.
template <class T = bool, class Start>
result<T> acked(Start start) {
  std::mutex m;
  std::condition_variable cv;
  std::optional<result<T>> out;
  start([&](result<T> r) {
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

// -- leases ---------------------------------------------------------------------

namespace {

lease_settings replica(std::string name, int64_t lease_ms) {
  return {std::move(name), lease_ms};
}

/// Records the tasks a journal heard were fenced.
struct fence_log {
  std::mutex m;
  std::condition_variable cv;
  std::vector<uint64_t> ids;

  void attach(journal& j) {
    j.on_fenced([this](uint64_t id) {
      std::lock_guard guard{m};
      ids.push_back(id);
      cv.notify_all();
    });
  }
  std::vector<uint64_t> seen() {
    std::lock_guard guard{m};
    return ids;
  }
};

/// A run's place, once journaled.
result<run_place> run_sync(journal& j, journaled_task t, bool exclusive) {
  return acked<run_place>(
    [&](auto done) { j.accept_run(std::move(t), exclusive, done); });
}

} // namespace

TEMPLATE_TEST_CASE("a task's lease: another replica takes it over only once "
                   "it expired, and the old owner's writes are fenced",
                   "[store][journal][lease]", sqlite_backend,
                   postgres_backend) {
  TestType backend;
  auto a = backend.open(replica("a", 400));
  auto b = backend.open(replica("b", 10000));
  fence_log a_fenced;
  a_fenced.attach(*a);
  REQUIRE(accept_sync(*a, task(1)));
  a->step(1, 0, R"({"calls":[],"index":0})", {}, 1);
  a->flush();
  auto held = a->get(1);
  REQUIRE(held);
  CHECK(held->owner == "a");
  CHECK(held->fence == 1);
  // A's lease holds while renewed; B takes nothing meanwhile.
  REQUIRE(a->renew());
  auto none = b->claim(false, 10);
  REQUIRE(none);
  CHECK(none->empty());
  // Unrenewed, it expires: B takes it, with its steps, under fence 2.
  std::vector<journaled_task> got;
  REQUIRE(test::wait_until([&] {
    auto c = b->claim(false, 10);
    if (c)
      got = std::move(*c);
    return !got.empty();
  }));
  REQUIRE(got.size() == 1);
  CHECK(got[0].id == 1);
  CHECK(got[0].owner == "b");
  CHECK(got[0].fence == 2);
  CHECK(got[0].steps.size() == 1);
  // Taken once: nobody else gets it while B holds it.
  auto again = b->claim(false, 10);
  REQUIRE(again);
  CHECK(again->empty());
  // A comes back with its old token: its step and its end are refused, and
  // it hears so; B's are stored.
  bool a_done = false;
  a->step(1, 1, R"({"calls":["stale"],"index":1})", [&] { a_done = true; }, 1);
  a->finish(1, "completed", R"({"answer":"stale"})", [&] { a_done = true; },
            1);
  a->flush();
  CHECK_FALSE(a_done);
  CHECK(a_fenced.seen() == std::vector<uint64_t>{1, 1});
  b->step(1, 1, R"({"calls":["fresh"],"index":1})", {}, 2);
  b->finish(1, "completed", R"({"answer":"fresh"})", {}, 2);
  b->flush();
  auto t = b->get(1);
  REQUIRE(t);
  CHECK(t->status == "completed");
  CHECK(t->result == R"({"answer":"fresh"})");
  REQUIRE(t->steps.size() == 2);
  CHECK(t->steps[1].find("fresh") != std::string::npos);
  // A's renewal no longer covers it.
  auto renewed = a->renew();
  REQUIRE(renewed);
  CHECK(*renewed == 0);
}

TEMPLATE_TEST_CASE("a replica restarted under its name takes back its tasks "
                   "at once; one that lets go hands them over at once",
                   "[store][journal][lease]", sqlite_backend,
                   postgres_backend) {
  TestType backend;
  {
    auto a = backend.open(replica("a", 60000));
    REQUIRE(accept_sync(*a, task(1)));
    REQUIRE(accept_sync(*a, task(2)));
  }
  auto a = backend.open(replica("a", 60000));
  auto b = backend.open(replica("b", 60000));
  // Not expired: B may not take them, but A (its own, from before) may.
  auto none = b->claim(true, 10);
  REQUIRE(none);
  CHECK(none->empty());
  auto own = a->claim(true, 1);
  REQUIRE(own);
  REQUIRE(own->size() == 1);
  CHECK((*own)[0].id == 1);
  CHECK((*own)[0].fence == 2);
  own = a->claim(true, 10);
  REQUIRE(own);
  REQUIRE(own->size() == 2);
  CHECK((*own)[1].fence == 2);
  // A stops cleanly with them unfinished: B takes them at once.
  a->release();
  auto taken = b->claim(false, 10);
  REQUIRE(taken);
  REQUIRE(taken->size() == 2);
  CHECK((*taken)[0].owner == "b");
  // Task 1 was claimed twice by A (2, 3), task 2 once.
  CHECK((*taken)[0].fence == 4);
  CHECK((*taken)[1].fence == 3);
}

TEMPLATE_TEST_CASE("a thread's runs get turns in order; an exclusive one is "
                   "refused while a run has not ended",
                   "[store][journal][lease]", sqlite_backend,
                   postgres_backend) {
  TestType backend;
  auto a = backend.open(replica("a", 60000));
  auto b = backend.open(replica("b", 60000));
  REQUIRE(acked([&](auto done) { a->create_thread(thread("th_a"), done); }));
  auto run = [](uint64_t id) {
    auto t = task(id);
    t.thread = "th_a";
    t.session = "th_a";
    return t;
  };
  auto first = run_sync(*a, run(1), true);
  REQUIRE(first);
  CHECK(first->turn == 1);
  CHECK(first->ahead == 0);
  // Another replica, while run 1 goes on: refused, or queued after it.
  auto busy = run_sync(*b, run(2), true);
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == errc::thread_busy);
  auto second = run_sync(*b, run(3), false);
  REQUIRE(second);
  CHECK(second->turn == 2);
  CHECK(second->ahead == 1);
  auto ahead = b->runs_ahead("th_a", 2);
  REQUIRE(ahead);
  CHECK(*ahead == 1);
  a->finish_turn(1, "completed", "{}", "th_a", {R"({"role":"user"})"}, {}, 1);
  a->flush();
  ahead = b->runs_ahead("th_a", 2);
  REQUIRE(ahead);
  CHECK(*ahead == 0);
  auto t = a->get(3);
  REQUIRE(t);
  CHECK(t->turn == 2);
  CHECK(t->owner == "b");
  auto gone = run_sync(*a, [&] {
    auto x = run(4);
    x.thread = "th_none";
    return x;
  }(), false);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == errc::not_found);
}

TEST_CASE("a PostgreSQL journal hears what other replicas commit",
          "[store][journal][lease]") {
  postgres_backend backend;
  auto a = backend.open(replica("a", 60000));
  auto b = backend.open(replica("b", 60000));
  std::mutex m;
  std::condition_variable cv;
  std::set<uint64_t> tasks, cancels;
  std::set<std::string> threads;
  b->keep_leases([](std::vector<journaled_task>) {}, [&](changes c) {
    std::lock_guard guard{m};
    tasks.insert(c.tasks.begin(), c.tasks.end());
    cancels.insert(c.cancels.begin(), c.cancels.end());
    threads.insert(c.threads.begin(), c.threads.end());
    cv.notify_all();
  });
  REQUIRE(acked([&](auto done) { a->create_thread(thread("th_a"), done); }));
  REQUIRE(accept_sync(*a, task(7)));
  // B listens once it has (re)connected: what A commits from then on is
  // announced. Each write is tried until B hears of one.
  auto heard = [&](auto pred) {
    std::unique_lock lock{m};
    return cv.wait_for(lock, std::chrono::milliseconds{200}, pred);
  };
  uint64_t index = 0;
  REQUIRE(test::wait_until([&] {
    a->step(7, index++, R"({"calls":[]})", {}, 1);
    return heard([&] { return tasks.count(7) > 0; });
  }));
  a->finish_turn(0, "completed", "{}", "th_a", {R"({"role":"user"})"});
  CHECK(heard([&] { return threads.count("th_a") > 0; }));
  auto asked = a->request_cancel(7);
  REQUIRE(asked);
  CHECK(*asked);
  CHECK(heard([&] { return cancels.count(7) > 0; }));
  b->stop_leases();
}

TEMPLATE_TEST_CASE("a cancel asked for a task another replica runs is kept "
                   "for whoever takes it over",
                   "[store][journal][lease]", sqlite_backend,
                   postgres_backend) {
  TestType backend;
  auto a = backend.open(replica("a", 60000));
  auto b = backend.open(replica("b", 60000));
  REQUIRE(accept_sync(*a, task(1)));
  auto asked = b->request_cancel(1);
  REQUIRE(asked);
  CHECK(*asked);
  a->release();
  auto taken = b->claim(false, 10);
  REQUIRE(taken);
  REQUIRE(taken->size() == 1);
  CHECK((*taken)[0].cancel_requested);
  b->finish(1, "cancelled", "{}", {}, (*taken)[0].fence);
  b->flush();
  // Ended: nothing left to cancel.
  asked = b->request_cancel(1);
  REQUIRE(asked);
  CHECK_FALSE(*asked);
  asked = b->request_cancel(99);
  REQUIRE(asked);
  CHECK_FALSE(*asked);
}

// -- retention --------------------------------------------------------------------

TEMPLATE_TEST_CASE("retention prunes finished tasks past their age or count, "
                   "never an unfinished one or a live thread's run",
                   "[store][journal][retention]", sqlite_backend,
                   postgres_backend) {
  TestType backend;
  auto j = backend.open();
  auto old = now_ms() - int64_t{10} * 24 * 3600 * 1000;
  // 1-5 ended ten days ago, 6-7 now, 8-9 never; 10 a run of a thread that
  // stays, 11 of one that is deleted (both ended long ago).
  for (uint64_t id = 1; id <= 9; ++id) {
    REQUIRE(accept_sync(*j, task(id)));
    j->step(id, 0, R"({"calls":[]})");
  }
  for (uint64_t id = 1; id <= 5; ++id)
    j->finish(id, "completed", "{}", {}, 0, old);
  j->finish(6, "failed", "{}");
  j->finish(7, "completed", "{}");
  for (auto th : {"th_kept", "th_gone"})
    REQUIRE(acked([&](auto done) { j->create_thread(thread(th), done); }));
  for (auto [id, th] : {std::pair{10, "th_kept"}, std::pair{11, "th_gone"}}) {
    auto t = task(static_cast<uint64_t>(id));
    t.thread = th;
    REQUIRE(acked<run_place>(
      [&](auto done) { j->accept_run(std::move(t), false, done); }));
    j->finish_turn(static_cast<uint64_t>(id), "completed", "{}", th,
                   {R"({"role":"user"})"}, {}, 0, old);
  }
  j->delete_thread("th_gone");
  j->flush();
  auto before = j->info();
  REQUIRE(before);
  CHECK(before->unfinished == 2);
  CHECK(before->finished == 9);
  CHECK(before->steps == 9);
  CHECK(before->threads == 1);
  // By age, two at a time: 1-5 and 11 go.
  retention_settings r;
  r.max_age_hours = 24;
  r.max_tasks = 0;
  r.batch = 2;
  auto n = j->prune_all(r);
  REQUIRE(n);
  CHECK(*n == 6);
  CHECK(j->pruned() == 6);
  for (uint64_t id : {1, 2, 3, 4, 5, 11})
    CHECK_FALSE(j->get(id));
  for (uint64_t id : {6, 7, 8, 9, 10})
    CHECK(j->get(id));
  auto after = j->info();
  REQUIRE(after);
  CHECK(after->finished == 3);
  CHECK(after->steps == 4);
  // Nothing more by age; by count, the newest finished one stays (and the
  // live thread's run, and the unfinished ones).
  n = j->prune_all(r);
  REQUIRE(n);
  CHECK(*n == 0);
  r.max_age_hours = 0;
  r.max_tasks = 1;
  n = j->prune_all(r);
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK_FALSE(j->get(6));
  CHECK(j->get(7));
  CHECK(j->get(8));
  CHECK(j->get(10));
  auto t = j->get_thread("th_kept");
  REQUIRE(t);
  CHECK(t->runs.size() == 1);
}

TEST_CASE("a SQLite journal gives back the space pruning frees, and refuses "
          "a schema newer than its own",
          "[store][journal][retention]") {
  sqlite_backend backend;
  auto file = backend.dir.path / "tasks.db";
  {
    auto j = backend.open();
    std::string big(4000, 'x');
    for (uint64_t id = 1; id <= 500; ++id) {
      auto t = task(id);
      t.input = big;
      j->accept(t, {});
      j->step(id, 0, "{\"calls\":[],\"out\":\"" + big + "\"}");
      j->finish(id, "completed", "{\"answer\":\"" + big + "\"}");
    }
    j->flush();
    // The file's size once the log is in it.
    auto on_disk = [&] {
      SQLite::Database db{file.string(), SQLite::OPEN_READWRITE};
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      return std::filesystem::file_size(file);
    };
    auto full = on_disk();
    retention_settings r;
    r.max_age_hours = 0;
    r.max_tasks = 10;
    auto n = j->prune_all(r);
    REQUIRE(n);
    CHECK(*n == 490);
    CHECK(on_disk() < full / 4);
    SQLite::Database db{file.string()};
    CHECK(db.execAndGet("PRAGMA freelist_count").getInt() < 10);
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == 2);
  }
  {
    SQLite::Database db{file.string(), SQLite::OPEN_READWRITE};
    db.exec("PRAGMA user_version=99");
  }
  auto j = open_sqlite_journal(file, false);
  REQUIRE_FALSE(j);
  CHECK(j.error().code == errc::invalid_config);
  CHECK_THAT(j.error().message, Catch::Contains("schema version 99"));
}

TEST_CASE("a SQLite batch that cannot commit tells every write waiting on "
          "it, and its steps are stored once it can",
          "[store][journal]") {
  sqlite_backend backend;
  auto j = backend.open();
  REQUIRE(accept_sync(*j, task(1)));
  SQLite::Database db{(backend.dir.path / "tasks.db").string(),
                      SQLite::OPEN_READWRITE, 5000};
  // Steps cannot be written (as if the disk were full).
  db.exec("CREATE TRIGGER no_steps BEFORE INSERT ON steps BEGIN SELECT "
          "RAISE(FAIL, 'the disk is full (a test)'); END");
  // Hold the write lock, so that what is queued next is one batch.
  db.exec("BEGIN IMMEDIATE");
  bool first = false;
  j->step(1, 0, R"({"calls":[]})", [&] { first = true; });
  std::mutex m;
  std::condition_variable cv;
  std::optional<result<bool>> accepted;
  j->accept(task(2), [&](result<bool> r) {
    std::lock_guard guard{m};
    accepted = r;
    cv.notify_all();
  });
  j->step(2, 0, R"({"calls":[]})");
  db.exec("COMMIT");
  {
    std::unique_lock lock{m};
    REQUIRE(cv.wait_for(lock, std::chrono::seconds{10},
                        [&] { return accepted.has_value(); }));
  }
  REQUIRE_FALSE(*accepted);
  CHECK(accepted->error().code == errc::role_down);
  CHECK_THAT(accepted->error().message, Catch::Contains("the disk is full"));
  CHECK_FALSE(j->get(2));
  // The steps are tried again: stored once they can be.
  db.exec("DROP TRIGGER no_steps");
  REQUIRE(test::wait_until([&] {
    auto t = j->get(1);
    return t && t->steps.size() == 1;
  }));
  j->flush();
  CHECK(first);
}
