#include "actors/monitor.hpp"

#include <catch2/catch.hpp>

#include "core/json.hpp"
#include "core/log.hpp"
#include "support/actors.hpp"

#include <algorithm>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

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

TEST_CASE("the monitor writes one JSON line per event with ids",
          "[actors][monitor]") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern(log::json_pattern);
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_level(spdlog::level::info);
  monitor_state st;
  st.logger = logger;
  st.record(event{event_kind::task_finished, 7, 12, "say \"hi\"\n"});
  // Below the level: counted, not written.
  st.record(event{event_kind::step, 7, 12, ""});
  logger->flush();
  auto text = out.str();
  REQUIRE(std::count(text.begin(), text.end(), '\n') == 1);
  auto j = json::parse(text);
  CHECK(j["event"] == "task_finished");
  CHECK(j["task"] == 7);
  CHECK(j["actor"] == 12);
  CHECK(j["detail"] == "say \"hi\"\n");
  CHECK(j["level"] == "info");
  CHECK(st.counts[static_cast<size_t>(event_kind::step)] == 1);
}
