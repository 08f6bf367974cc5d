// The SQLite long-term store on its own: ranking, namespaces, expiry, caps,
// compaction, export/import, hostile queries, bad files, durability.

#include "memory/long_term.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::memory;

namespace {

using test::temp_dir;

long_term_config config_in(const temp_dir& d) {
  long_term_config cfg;
  cfg.file = d.path / "memory.db";
  cfg.durable = false;
  return cfg;
}

std::unique_ptr<long_term_store> open_store(const long_term_config& cfg) {
  auto s = long_term_store::open(cfg);
  if (!s)
    FAIL(s.error().message);
  return std::move(*s);
}

record mem(std::string ns, std::string text, int64_t expires = 0) {
  record r;
  r.ns = std::move(ns);
  r.text = std::move(text);
  r.expires_ms = expires;
  return r;
}

std::vector<uint64_t> put(long_term_store& s, std::vector<record> batch) {
  auto ids = s.insert(batch);
  REQUIRE(ids);
  return *ids;
}

std::vector<std::string> texts(const std::vector<ranked>& hits) {
  std::vector<std::string> out;
  for (auto& h : hits)
    out.push_back(h.rec.text);
  return out;
}

} // namespace

TEST_CASE("long-term recall ranks the relevant memory first",
          "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  put(*s, {mem("u/a", "the cafeteria serves pasta on Mondays"),
           mem("u/a", "the product launch is on Friday at noon"),
           mem("u/a", "Friday is casual dress day"),
           mem("u/a", "the launch party needs a venue")});
  auto hits = s->search("u/a", "When is the launch?", 3);
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);
  // Both mention the launch; BM25 prefers the shorter one.
  CHECK(texts(*hits) ==
        std::vector<std::string>{"the launch party needs a venue",
                                 "the product launch is on Friday at noon"});
  CHECK((*hits)[0].score >= (*hits)[1].score);
  auto both = s->search("u/a", "launch Friday", 5);
  REQUIRE(both);
  REQUIRE_FALSE(both->empty());
  CHECK((*both)[0].rec.text == "the product launch is on Friday at noon");
  // Stemming: "launches" finds "launch".
  auto stem = s->search("u/a", "launches", 5);
  REQUIRE(stem);
  CHECK(stem->size() == 2);
}

TEST_CASE("long-term namespaces are isolated", "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  put(*s, {mem("alice/agent", "my locker code is 4711"),
           mem("bob/agent", "my locker code is 1234")});
  auto a = s->search("alice/agent", "locker code", 5);
  REQUIRE(a);
  CHECK(texts(*a) == std::vector<std::string>{"my locker code is 4711"});
  auto other_agent = s->search("alice/other", "locker code", 5);
  REQUIRE(other_agent);
  CHECK(other_agent->empty());
}

TEST_CASE("long-term memories expire", "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  auto t = now_ms();
  put(*s, {mem("u/a", "the coupon code is SPRING", t + 1000),
           mem("u/a", "the coupon page is /deals")});
  auto before = s->search("u/a", "coupon", 5, t);
  REQUIRE(before);
  CHECK(before->size() == 2);
  auto after = s->search("u/a", "coupon", 5, t + 1000);
  REQUIRE(after);
  CHECK(texts(*after) == std::vector<std::string>{"the coupon page is /deals"});
  auto st = s->stats(t + 1000);
  REQUIRE(st);
  CHECK(st->memories == 2);
  CHECK(st->expired == 1);
  auto c = s->compact(t + 1000);
  REQUIRE(c);
  CHECK(c->expired_removed == 1);
  CHECK(s->stats(t + 1000)->memories == 1);
}

TEST_CASE("each namespace keeps at most its cap, oldest out first",
          "[memory][long_term]") {
  temp_dir d;
  auto cfg = config_in(d);
  cfg.max_per_namespace = 3;
  auto s = open_store(cfg);
  for (int i = 0; i < 5; ++i)
    put(*s, {mem("u/a", "note number " + std::to_string(i) + " about tea")});
  put(*s, {mem("u/b", "note about tea")});
  auto hits = s->search("u/a", "tea", 10);
  REQUIRE(hits);
  auto list = texts(*hits);
  std::set<std::string> got(list.begin(), list.end());
  CHECK(got == std::set<std::string>{"note number 2 about tea",
                                     "note number 3 about tea",
                                     "note number 4 about tea"});
  auto st = s->stats();
  REQUIRE(st);
  CHECK(st->namespaces ==
        std::vector<std::pair<std::string, uint64_t>>{{"u/a", 3}, {"u/b", 1}});
  // A store reopened with a lower cap is brought down by compaction.
  s.reset();
  cfg.max_per_namespace = 1;
  s = open_store(cfg);
  auto c = s->compact();
  REQUIRE(c);
  CHECK(c->over_cap_removed == 2);
  CHECK(s->stats()->memories == 2);
}

TEST_CASE("export and import round-trip as JSON lines", "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  auto r = mem("u/a", "the wifi password is \"tr0upe\" \xe2\x9c\x93");
  r.tags = {"secret", "office"};
  r.source_task = 42;
  r.expires_ms = now_ms() + 3600000;
  put(*s, {r, mem("u/b", "line one\nline two")});
  std::stringstream out;
  auto n = s->export_jsonl(out);
  REQUIRE(n);
  CHECK(*n == 2);
  temp_dir d2;
  auto copy = open_store(config_in(d2));
  std::stringstream in{out.str()};
  auto imported = copy->import_jsonl(in);
  REQUIRE(imported);
  CHECK(*imported == 2);
  std::stringstream again;
  REQUIRE(copy->export_jsonl(again));
  CHECK(again.str() == out.str());
  // Only one namespace.
  std::stringstream only_b;
  REQUIRE(copy->export_jsonl(only_b, "u/b"));
  CHECK(only_b.str().find("u/a") == std::string::npos);
  CHECK(only_b.str().find("line one\\nline two") != std::string::npos);
}

TEST_CASE("a bad import line is named and nothing is imported",
          "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  std::stringstream in{R"({"namespace":"u/a","text":"fine"})"
                       "\n\n"
                       R"({"namespace":"u/a","text":42})"
                       "\n"};
  auto res = s->import_jsonl(in);
  REQUIRE_FALSE(res);
  CHECK(res.error().message.rfind("line 3: ", 0) == 0);
  CHECK(s->stats()->memories == 0);
  std::stringstream junk{"not json\n"};
  auto j = s->import_jsonl(junk);
  REQUIRE_FALSE(j);
  CHECK(j.error().message.rfind("line 1: the record is not valid JSON: ", 0) == 0);
  std::stringstream deep{R"({"namespace":"u/a","text":"ok"})"
                         "\n" + std::string(100'000, '[') + "\n"};
  auto d2 = s->import_jsonl(deep);
  REQUIRE_FALSE(d2);
  CHECK_THAT(d2.error().message,
             Catch::StartsWith("line 2: the record at /0/0/") &&
               Catch::EndsWith("nests deeper than 64 levels"));
  // The error an import of the one line `line` fails with.
  auto refusal = [&](const std::string& line) {
    std::stringstream in{line};
    auto r = s->import_jsonl(in);
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  auto time_range = std::string{"line 1: 'created_ms' must be an integer in "
                                "0..9223372036854775807, got "};
  // Found by fuzz/memory_import: a time that is no integer.
  CHECK(refusal(R"({"namespace":"u/a","text":"x","created_ms":1e300})") ==
        time_range + "1e+300");
  // Found by fuzz/memory_import: a time past INT64_MAX wrapped to a
  // negative one, which the export then wrote and no import took back.
  CHECK(refusal(R"({"namespace":"u/a","text":"x",)"
                R"("created_ms":17672256000005600000})") ==
        time_range + "17672256000005600000");
  // The source task is unsigned: all of its range is taken.
  std::stringstream task{
    R"({"namespace":"u/a","text":"x","source_task":18446744073709551615})"};
  CHECK(s->import_jsonl(task));
  CHECK(s->stats()->memories == 1);
}

TEST_CASE("hostile query strings are only words", "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  put(*s, {mem("u/a", "the NEAR field office orders tea"),
           mem("u/a", "drop table memories is a bad idea")});
  for (auto q : {"\"", "\"\"\"", "NEAR(tea office)", "tea*", "*", "(((tea",
                 "tea)))", "tea AND OR NOT", "'; DROP TABLE memories; --",
                 "nstok : x", "text:tea", "^tea", "{nstok text}: tea", "",
                 "\xff\xfe", "-tea +office"}) {
    INFO(q);
    auto hits = s->search("u/a", q, 5);
    REQUIRE(hits);
  }
  auto drop = s->search("u/a", "'; DROP TABLE memories; --", 5);
  REQUIRE(drop);
  CHECK(texts(*drop) ==
        std::vector<std::string>{"drop table memories is a bad idea"});
  CHECK(s->stats()->memories == 2);
  // The expression quotes every word and never carries syntax through.
  CHECK(match_any(search_terms("NEAR(\"x\" y*)")) ==
        "\"near\" OR \"x\" OR \"y\"");
  CHECK(search_terms("?? !! the").empty());
}

TEST_CASE("oversized and empty memories are refused",
          "[memory][long_term]") {
  temp_dir d;
  auto cfg = config_in(d);
  cfg.max_entry_bytes = 10;
  auto s = open_store(cfg);
  std::vector<record> big{mem("u/a", std::string(11, 'x'))};
  auto res = s->insert(big);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::too_large);
  CHECK(res.error().message == "memory text is 11 bytes; the limit is 10");
  std::vector<record> empty{mem("u/a", "")};
  CHECK_FALSE(s->insert(empty));
  std::vector<record> no_ns{mem("", "text")};
  CHECK_FALSE(s->insert(no_ns));
}

TEST_CASE("a file that is not a memory database is a clear error",
          "[memory][long_term]") {
  temp_dir d;
  auto cfg = config_in(d);
  std::ofstream{cfg.file} << "this is not a database, just some text that is "
                             "long enough to look like a header page......";
  auto res = long_term_store::open(cfg);
  REQUIRE_FALSE(res);
  CHECK(res.error().message.find("cannot open memory store '" +
                                 cfg.file.string() + "'") == 0);
  CHECK(res.error().message.find("not a database") != std::string::npos);
  // A directory where the file should be.
  auto dir_cfg = config_in(d);
  dir_cfg.file = d.path / "a-dir";
  std::filesystem::create_directories(dir_cfg.file);
  CHECK_FALSE(long_term_store::open(dir_cfg));
  // Read-only on a missing file.
  auto missing = config_in(d);
  missing.file = d.path / "missing.db";
  auto ro = long_term_store::open(missing, long_term_store::mode::read_only);
  REQUIRE_FALSE(ro);
  CHECK(ro.error().code == errc::not_found);
}

TEST_CASE("a store held locked by another process is a clear error",
          "[memory][long_term]") {
  temp_dir d;
  auto cfg = config_in(d);
  cfg.busy_timeout = std::chrono::milliseconds{50};
  // Another program holds the file in an exclusive transaction.
  sqlite3* holder = nullptr;
  REQUIRE(sqlite3_open(cfg.file.c_str(), &holder) == SQLITE_OK);
  REQUIRE(sqlite3_exec(holder,
                       "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; "
                       "CREATE TABLE other(x);",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  auto res = long_term_store::open(cfg);
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  REQUIRE_FALSE(res);
  INFO(res.error().message);
  CHECK(res.error().message.find("database is locked") != std::string::npos);
}

TEST_CASE("acknowledged writes survive SIGKILL mid-burst",
          "[memory][long_term][durability]") {
  temp_dir d;
  auto cfg = config_in(d);
  cfg.durable = true;
  // The child writes batches and reports each committed batch's last id on
  // a pipe; the parent kills it mid-burst and checks every reported id.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto s = long_term_store::open(cfg);
    if (!s)
      ::_exit(3);
    for (int b = 0;; ++b) {
      std::vector<record> batch;
      for (int i = 0; i < 50; ++i)
        batch.push_back(mem("u/a", "burst " + std::to_string(b) + " item " +
                                     std::to_string(i)));
      auto ids = (*s)->insert(batch);
      if (!ids)
        ::_exit(4);
      auto last = ids->back();
      if (::write(fds[1], &last, sizeof(last)) != sizeof(last))
        ::_exit(5);
    }
  }
  ::close(fds[1]);
  std::vector<uint64_t> acked;
  uint64_t id = 0;
  while (acked.size() < 20 && ::read(fds[0], &id, sizeof(id)) == sizeof(id))
    acked.push_back(id);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  REQUIRE(acked.size() == 20);
  CHECK(WIFSIGNALED(status));
  auto s = open_store(cfg);
  std::stringstream out;
  REQUIRE(s->export_jsonl(out));
  std::set<uint64_t> present;
  for (std::string line; std::getline(out, line);)
    present.insert(nlohmann::json::parse(line)["id"].get<uint64_t>());
  // Every batch is committed whole: each acknowledged batch's last id (and
  // so the batch) is there.
  for (auto id : acked)
    if (!present.count(id))
      FAIL("acknowledged memory " << id << " is missing");
  CHECK(present.size() >= acked.size() * 50);
}

TEST_CASE("the same fact stored twice is one memory, refreshed",
          "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  auto first = put(*s, {mem("u/a", "the launch is on Friday", now_ms() + 10)});
  auto again = put(*s, {mem("u/a", "the launch is on Friday")});
  CHECK(again == first);
  CHECK(s->stats()->memories == 1);
  // The refresh took the new expiry (none): it no longer expires.
  auto later = s->search("u/a", "launch", 5, now_ms() + 1000);
  REQUIRE(later);
  CHECK(later->size() == 1);
  // Another namespace keeps its own copy.
  put(*s, {mem("u/b", "the launch is on Friday")});
  CHECK(s->stats()->memories == 2);
}

TEST_CASE("words the FTS tokenizer splits further still search",
          "[memory][long_term]") {
  temp_dir d;
  auto s = open_store(config_in(d));
  put(*s, {mem("u/a", "don\xe2\x80\x99t forget the caf\xc3\xa9 on Main Street"),
           mem("u/a", "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc "
                      "is tall")});
  // "don’t" (with U+2019) is one keyword here, two tokens to FTS5: a phrase.
  auto hits = s->search("u/a", "don\xe2\x80\x99t", 5);
  REQUIRE(hits);
  CHECK(hits->size() == 1);
  auto cafe = s->search("u/a", "cafe", 5);
  REQUIRE(cafe);
  CHECK(cafe->size() == 1);
  auto cjk = s->search("u/a", "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf"
                              "\xe3\x83\xbc",
                       5);
  REQUIRE(cjk);
  CHECK(cjk->size() == 1);
}
