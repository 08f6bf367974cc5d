// The PostgreSQL connection and pool against a real server of the test's
// own: statements and their errors, a pool that grows to its limit and
// no further, and one that fails fast while the server is down and comes
// back by itself when it is up again.

#include "store/pg.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "support/actors.hpp"
#include "support/http_client.hpp"
#include "support/postgres.hpp"

using namespace troupe;
using namespace troupe::store;
using namespace std::chrono_literals;

namespace {

pg_settings settings_for(const std::string& dsn) {
  pg_settings cfg;
  cfg.dsn = dsn;
  cfg.min_connections = 1;
  cfg.max_connections = 4;
  return cfg;
}

std::string message_of(const failure& f) {
  return f.message;
}

} // namespace

TEST_CASE("a DSN's password never shows", "[store][pg]") {
  CHECK(redacted_dsn("postgresql://app:s3cret@db:5432/troupe") ==
        "postgresql://app:***@db:5432/troupe");
  CHECK(
    redacted_dsn("postgres://app@db/troupe?password=s3cret&sslmode=require") ==
    "postgres://app@db/troupe?password=***&sslmode=require");
  CHECK(redacted_dsn("host=db user=app password=s3cret dbname=troupe") ==
        "host=db user=app password=*** dbname=troupe");
  CHECK(redacted_dsn("host=db password = 'it\\'s a secret' dbname=x") ==
        "host=db password = *** dbname=x");
  CHECK(redacted_dsn("postgresql://db/troupe") == "postgresql://db/troupe");
}

TEST_CASE("a connection runs statements with parameters and says what "
          "went wrong",
          "[store][pg]") {
  test::postgres_server pg;
  auto cfg = settings_for(pg.database());
  cfg.statement_timeout = 200ms;
  auto c = pg_connection::open(cfg);
  REQUIRE(c);
  auto& conn = **c;
  REQUIRE(conn.exec_script("CREATE TABLE t(id BIGINT PRIMARY KEY, v TEXT);"
                           "CREATE TABLE IF NOT EXISTS t(id BIGINT)"));
  auto ins = conn.exec("INSERT INTO t VALUES($1, $2), ($3, $4)",
                       pg_params{}.integer(1).text("one").integer(2).null());
  REQUIRE(ins);
  CHECK(ins->affected() == 2);
  auto rows = conn.exec("SELECT id, v FROM t WHERE id >= $1 ORDER BY id",
                        pg_params{}.integer(1));
  REQUIRE(rows);
  REQUIRE(rows->size() == 2);
  CHECK(rows->integer(0, 0) == 1);
  CHECK(rows->text(0, 1) == "one");
  CHECK(rows->is_null(1, 1));
  // Text with quotes and NUL-free bytes goes through as it is.
  auto odd =
    conn.exec("SELECT $1::text", pg_params{}.text("it's \"x\"; DROP t"));
  REQUIRE(odd);
  CHECK(odd->text(0, 0) == "it's \"x\"; DROP t");
  auto dup = conn.exec("INSERT INTO t VALUES(1, 'again')");
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == errc::invalid_input);
  CHECK(conn.sqlstate() == "23505");
  CHECK_THAT(message_of(dup.error()), Catch::Contains("duplicate key"));
  auto slow = conn.exec("SELECT pg_sleep(5)");
  REQUIRE_FALSE(slow);
  CHECK(slow.error().code == errc::timeout);
  auto bad = conn.exec("SELEKT 1");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::unspecified);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("syntax error"));
  // Still usable after each error.
  CHECK(conn.exec("SELECT 1"));
}

TEST_CASE("opening a pool on no server fails at once, naming it without "
          "its password",
          "[store][pg]") {
  auto port = test::free_port();
  auto cfg = settings_for(
    "postgresql://app:s3cret@127.0.0.1:" + std::to_string(port) + "/x");
  auto pool = pg_pool::open(cfg);
  REQUIRE_FALSE(pool);
  CHECK(pool.error().code == errc::role_down);
  CHECK_THAT(message_of(pool.error()), Catch::Contains("app:***@127.0.0.1"));
  CHECK_THAT(message_of(pool.error()), !Catch::Contains("s3cret"));
  CHECK_FALSE(pg_pool::open(pg_settings{"x", 0, 0}));
}

TEST_CASE("the pool grows to its limit under load and no further",
          "[store][pg]") {
  test::postgres_server pg;
  auto pool = pg_pool::open(settings_for(pg.database()));
  REQUIRE(pool);
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 24; ++i)
    (*pool)->submit([&](result<pg_connection*> c) {
      REQUIRE(c);
      auto now = ++running;
      for (int m = most; now > m && !most.compare_exchange_weak(m, now);)
        ;
      // Holds its connection a moment, so that the others need more.
      CHECK((*c)->exec("SELECT pg_sleep(0.02)"));
      --running;
      ++done;
    });
  // (A job's count and latency are taken once it returns.)
  REQUIRE(test::wait_until(
    [&] { return done == 24 && (*pool)->stats().jobs == 24; }, 30s));
  // Four connections opened, and never more at work at once (how many
  // overlapped depends on the scheduler, so only more than one).
  CHECK(most <= 4);
  CHECK(most > 1);
  auto st = (*pool)->stats();
  CHECK(st.open == 4);
  CHECK(st.jobs == 24);
  CHECK(st.up);
  uint64_t counted = 0;
  for (auto n : st.latency_counts)
    counted += n;
  CHECK(counted == 24);
  // A blocking caller's way in.
  auto n = (*pool)->run<int64_t>([](pg_connection& c) -> result<int64_t> {
    auto r = c.exec("SELECT 41 + $1::int", pg_params{}.integer(1));
    if (!r)
      return r.error();
    return r->integer(0, 0);
  });
  REQUIRE(n);
  CHECK(*n == 42);
}

TEST_CASE("while the server is down jobs fail fast; the pool reconnects by "
          "itself",
          "[store][pg]") {
  test::postgres_server pg;
  auto pool = pg_pool::open(settings_for(pg.database()));
  REQUIRE(pool);
  auto& p = **pool;
  auto ping = [&] {
    return p.run<bool>([](pg_connection& c) -> result<bool> {
      auto r = c.exec("SELECT 1");
      if (!r)
        return r.error();
      return true;
    });
  };
  REQUIRE(ping());
  pg.stop("immediate");
  // The broken connection fails its statement; the pool then finds no
  // server: it is down, says why, and fails what comes at once.
  // (Each connection the pool had open fails once: it may have opened a
  // second while the first was still starting.)
  std::string why;
  for (uint32_t i = 0; i <= settings_for("").max_connections; ++i) {
    auto r = ping();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::role_down);
    why = message_of(r.error());
    if (why.find("cannot connect") != std::string::npos)
      break;
  }
  CHECK_THAT(why, Catch::Contains("cannot connect"));
  CHECK_FALSE(p.stats().up);
  auto before = p.stats().failed_fast;
  auto fast = ping();
  REQUIRE_FALSE(fast);
  CHECK(fast.error().code == errc::role_down);
  CHECK(p.stats().failed_fast == before + 1);
  pg.start();
  REQUIRE(test::wait_until([&] { return p.stats().up; }, 20s));
  CHECK(ping());
  CHECK(p.stats().reconnects >= 1);
}
