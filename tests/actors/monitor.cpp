#include "actors/monitor.hpp"

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;

TEST_CASE("the monitor counts every event of a task", "[actors][monitor]") {
  test::system_fixture fx;
  auto eng = engine::start(fx.sys(), test::test_config());
  REQUIRE(eng);
  auto r = test::run_task(fx.sys(), **eng,
                          "What is 1/0? Remember that zero is tricky.");
  REQUIRE(r.value);
  // The runner sends its events before its result, and an enqueue is
  // complete when `send` returns, so they are all in the monitor's mailbox
  // ahead of this request.
  auto s = test::ask<monitor_actor, monitor_stats>(
    fx.sys(), (*eng)->monitor(), std::chrono::seconds{5}, stats_atom::value);
  REQUIRE(s.value);
  auto& stats = *s.value;
  auto count = [&](event_kind k) {
    return stats.counts[static_cast<size_t>(k)];
  };
  CHECK(count(event_kind::task_accepted) == 1);
  CHECK(count(event_kind::task_finished) == 1);
  CHECK(count(event_kind::step) == 1);
  CHECK(count(event_kind::tool_call) == 2);
  CHECK(count(event_kind::tool_error) == 1);
  CHECK(count(event_kind::task_failed) == 0);
}

TEST_CASE("monitor_state counts by kind", "[actors][monitor]") {
  monitor_state st;
  st.record(event{event_kind::rejected, 1, 2, "x"});
  st.record(event{event_kind::rejected, 2, 2, "y"});
  st.record(event{event_kind::step, 2, 2, ""});
  CHECK(st.counts[static_cast<size_t>(event_kind::rejected)] == 2);
  CHECK(st.counts[static_cast<size_t>(event_kind::step)] == 1);
  CHECK(st.counts[static_cast<size_t>(event_kind::task_accepted)] == 0);
}
