// The task journal: what is acknowledged is on disk, across reopening.

#include "daemon/journal.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::daemon;

namespace {

/// Journals `t` and waits for the acknowledgement.
result<bool> accept_sync(journal& j, journaled_task t) {
  std::mutex m;
  std::condition_variable cv;
  std::optional<result<bool>> out;
  j.accept(std::move(t), [&](result<bool> r) {
    std::lock_guard guard{m};
    out = std::move(r);
    cv.notify_one();
  });
  std::unique_lock lock{m};
  cv.wait(lock, [&] { return out.has_value(); });
  return *out;
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

} // namespace

TEST_CASE("journaled tasks, steps and results survive reopening",
          "[daemon][journal]") {
  test::temp_dir dir;
  auto file = dir.path / "nested" / "tasks.db";
  {
    auto j = journal::open(file, true);
    REQUIRE(j);
    REQUIRE(accept_sync(**j, task(1)));
    REQUIRE(accept_sync(**j, task(2, "key-a")));
    (*j)->step(1, 0, R"({"calls":[]})");
    (*j)->step(1, 1, R"({"calls":[1]})");
    (*j)->finish(1, "completed", R"({"answer":"4"})");
    (*j)->step(2, 0, R"({"calls":[2]})");
  } // closing flushes what is queued
  auto j = journal::open(file, true);
  REQUIRE(j);
  CHECK((*j)->max_id() == 2);
  auto one = (*j)->get(1);
  REQUIRE(one);
  CHECK(one->status == "completed");
  CHECK(one->result == R"({"answer":"4"})");
  CHECK(one->steps == std::vector<std::string>{R"({"calls":[]})", R"({"calls":[1]})"});
  CHECK(one->principal == "alice");
  // An ended task's input is not kept (it may hold personal data); an
  // unfinished one keeps it, to be resumed.
  CHECK(one->input.empty());
  auto open = (*j)->unfinished();
  REQUIRE(open.size() == 1);
  CHECK(open[0].id == 2);
  CHECK_FALSE(open[0].input.empty());
  CHECK(open[0].steps.size() == 1);
  auto by_key = (*j)->find_idempotent("alice", "key-a");
  REQUIRE(by_key);
  CHECK(by_key->id == 2);
  CHECK_FALSE((*j)->find_idempotent("bob", "key-a"));
  CHECK_FALSE((*j)->get(3));
}

TEST_CASE("an Idempotency-Key is journaled once per principal",
          "[daemon][journal]") {
  test::temp_dir dir;
  auto j = journal::open(dir.path / "tasks.db", false);
  REQUIRE(j);
  REQUIRE(accept_sync(**j, task(1, "same")));
  auto twice = accept_sync(**j, task(2, "same"));
  REQUIRE_FALSE(twice);
  INFO(twice.error().message);
  CHECK(twice.error().code == errc::invalid_input);
  // The failed one did not take the batch down with it.
  REQUIRE(accept_sync(**j, task(3, "other")));
  CHECK((*j)->get(1));
  CHECK_FALSE((*j)->get(2));
  CHECK((*j)->get(3));
  auto bob = task(4, "same");
  bob.principal = "bob";
  CHECK(accept_sync(**j, bob));
}

TEST_CASE("a journal that cannot be opened says where and why",
          "[daemon][journal]") {
  test::temp_dir dir;
  auto file = dir.path / "tasks.db";
  {
    std::ofstream out{file};
    out << std::string(4096, 'x'); // not a database
  }
  auto j = journal::open(file, true);
  REQUIRE_FALSE(j);
  CHECK(j.error().message.find("cannot open the task journal '" +
                               file.string() + "'") == 0);
}

TEST_CASE("a thread's summary is journaled, also in a journal from before "
          "summaries",
          "[daemon][journal]") {
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
    auto j = journal::open(file, true);
    REQUIRE(j);
    auto old = (*j)->get_thread("th_old");
    REQUIRE(old);
    CHECK(old->summary.empty());
    CHECK(old->summarized == 0);
    (*j)->set_summary("th_old", "They said hello.", 4);
    (*j)->set_summary("th_gone", "Nobody's.", 2);
  }
  auto j = journal::open(file, true);
  REQUIRE(j);
  auto t = (*j)->get_thread("th_old");
  REQUIRE(t);
  CHECK(t->summary == "They said hello.");
  CHECK(t->summarized == 4);
  CHECK_FALSE((*j)->get_thread("th_gone"));
}
