#include "actors/memory.hpp"

#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE("the memory actor stores, recalls and evicts by LRU",
          "[actors][memory]") {
  test::system_fixture fx;
  auto mem = fx.sys().spawn(memory_role,
                            std::make_shared<memory::short_term_store>(2, 10),
                            std::make_shared<const memory_setup>(),
                            fault_spec{});
  auto store = [&](const std::string& text) {
    auto r = test::ask<memory_actor, uint64_t>(
      fx.sys(), mem, 5s, store_atom::value, std::string{"s"}, text);
    REQUIRE(r.value);
    return *r.value;
  };
  auto first = store("the launch is on Friday");
  auto second = store("the budget is tight");
  CHECK(second > first);
  store("the launch moved to Monday");
  auto hits = test::ask<memory_actor, std::vector<memory_hit>>(
    fx.sys(), mem, 5s, recall_atom::value, recall_query{"s", "launch", 5, "", ""});
  REQUIRE(hits.value);
  // Capacity 2: the oldest entry (Friday) was evicted.
  REQUIRE(hits.value->size() == 1);
  CHECK(hits.value->front().text == "the launch moved to Monday");
  auto empty = test::ask<memory_actor, uint64_t>(
    fx.sys(), mem, 5s, store_atom::value, std::string{"s"}, std::string{});
  CHECK(code_of(empty.error) == errc::invalid_input);
  caf::anon_send_exit(mem, caf::exit_reason::user_shutdown);
}
