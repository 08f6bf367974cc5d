// Long-term memory through the engine: a fact stored by one engine is
// recalled by the next over the same data directory; namespaces and
// permissions hold; a bad database stops the engine at start.

#include "config/config.hpp"
#include "actors/long_term_memory.hpp"

#include <filesystem>
#include <set>
#include <fstream>

#include <unistd.h>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "actors/engine.hpp"
#include "support/actors.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

/// A data directory the engine creates.
struct data_dir : test::temp_dir {
  data_dir() : test::temp_dir("ltm", false) {}
};

engine_config config_with(const data_dir& d) {
  auto cfg = test::test_config();
  cfg.data_dir = d.path;
  cfg.memory.durable = false;
  cfg.access.principals["alice"] = "admin";
  cfg.access.principals["bob"] = "admin";
  cfg.access.principals["gina"] = "guest";
  return cfg;
}

test::reply<task_result> run_as(caf::actor_system& sys, const engine& eng,
                                const std::string& principal,
                                const std::string& text) {
  return test::ask<task_actor, task_result>(
    sys, eng.tasks(), 10s, run_atom::value,
    task_request{0, "session-" + principal, principal, text});
}

} // namespace

TEST_CASE("a fact remembered by one engine is recalled by the next",
          "[actors][memory][long_term]") {
  data_dir d;
  {
    test::system_fixture fx;
    auto eng = engine::start(fx.sys(), config_with(d));
    REQUIRE(eng);
    auto r = run_as(fx.sys(), **eng, "alice",
                    "Remember that the launch is on Friday.");
    REQUIRE(r.value);
    CHECK(r.value->status == task_status::completed);
    REQUIRE(r.value->steps.size() == 1);
    // Acknowledged once durable in the store.
    auto out = json::parse(r.value->steps[0].results[0].output);
    CHECK(out["durable"] == true);
  }
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), config_with(d));
  REQUIRE(eng);
  // A new session: short-term memory is empty, long-term is not.
  auto r = run_as(fx.sys(), **eng, "alice",
                  "What do you remember about the launch?");
  REQUIRE(r.value);
  CHECK(r.value->status == task_status::completed);
  CHECK(r.value->answer.find("the launch is on Friday") != std::string::npos);
  // The recall before planning found it too, and the result says so.
  REQUIRE_FALSE(r.value->memories.empty());
  CHECK(r.value->memories[0].text == "the launch is on Friday");
  CHECK(r.value->memories[0].origin == "long_term");
  // Another principal's namespace does not have it.
  auto bob = run_as(fx.sys(), **eng, "bob",
                    "What do you remember about the launch?");
  REQUIRE(bob.value);
  CHECK(bob.value->memories.empty());
  CHECK(bob.value->answer.find("Friday") == std::string::npos);
}

TEST_CASE("memory access follows the principal's permissions",
          "[actors][memory][long_term]") {
  data_dir d;
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), config_with(d));
  REQUIRE(eng);
  // A guest may read but not write.
  auto guest = run_as(fx.sys(), **eng, "gina", "Remember that I was here.");
  REQUIRE(guest.value);
  REQUIRE(guest.value->steps.size() == 1);
  auto& res = guest.value->steps[0].results[0];
  CHECK_FALSE(res.ok);
  CHECK(res.output.find("forbidden") != std::string::npos);
  CHECK(res.output.find("lacks the permission write_memory") !=
        std::string::npos);
  auto stranger = run_as(fx.sys(), **eng, "mallory", "What is 2+2?");
  REQUIRE(stranger.value);
  CHECK(stranger.value->status == task_status::completed);
  // An unknown principal may not even read: recall is skipped, and said;
  // nor may it run tools.
  REQUIRE(stranger.value->notes.size() == 2);
  CHECK(stranger.value->notes[0].find("memory recall skipped: principal "
                                      "'mallory' is unknown") !=
        std::string::npos);
  CHECK(stranger.value->notes[1].find("tool call 'calculator' refused: "
                                      "principal 'mallory' is unknown") !=
        std::string::npos);
}

TEST_CASE("a memory database that cannot be opened stops the engine at start",
          "[actors][memory][long_term]") {
  data_dir d;
  std::filesystem::create_directories(d.path);
  std::ofstream{d.path / "memory.db"}
    << "garbage garbage garbage garbage garbage garbage garbage garbage";
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), config_with(d));
  REQUIRE_FALSE(eng);
  auto msg = describe(eng.error());
  CHECK(msg.find("cannot open memory store '" + (d.path / "memory.db").string() +
                 "'") != std::string::npos);
  CHECK(msg.find("not a database") != std::string::npos);
}

TEST_CASE("the memory writer batches stores and answers after the commit",
          "[actors][memory][long_term]") {
  data_dir d;
  test::system_fixture fx;
  memory::long_term_config cfg;
  cfg.file = d.path / "memory.db";
  cfg.durable = false;
  auto writer = fx.sys().spawn(memory_writer, cfg);
  caf::scoped_actor self{fx.sys()};
  constexpr int n = 200;
  using handle_type = decltype(self->request(
    writer, 5s, store_atom::value, memory::record{}, tool_invocation{}));
  std::vector<handle_type> pending;
  for (int i = 0; i < n; ++i) {
    memory::record rec;
    rec.ns = "u/a";
    rec.text = "fact " + std::to_string(i);
    tool_invocation inv;
    inv.call = tool_call{"c" + std::to_string(i), "memory_store", "{}"};
    pending.push_back(
      self->request(writer, 5s, store_atom::value, rec, inv));
  }
  std::set<uint64_t> ids;
  for (auto& h : pending)
    h.receive(
      [&](tool_result& r) {
        CHECK(r.ok);
        ids.insert(json::parse(r.output)["id"].get<uint64_t>());
      },
      [&](caf::error& e) { FAIL(describe(e)); });
  CHECK(ids.size() == n);
  // Every acknowledged memory is in the store.
  auto store = memory::long_term_store::open(cfg);
  REQUIRE(store);
  auto st = (*store)->stats();
  REQUIRE(st);
  CHECK(st->memories == n);
  // An oversized one is refused on its own, with the reason.
  memory::record big;
  big.ns = "u/a";
  big.text = std::string(cfg.max_entry_bytes + 1, 'x');
  tool_invocation inv;
  inv.call = tool_call{"big", "memory_store", "{}"};
  auto r = test::ask<memory_writer_actor, tool_result>(
    fx.sys(), writer, 5s, store_atom::value, big, inv);
  REQUIRE(r.value);
  CHECK_FALSE(r.value->ok);
  CHECK(r.value->output.find("too_large") != std::string::npos);
  caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
}
