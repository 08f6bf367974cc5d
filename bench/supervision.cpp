/// bench/supervision: what supervision costs and how fast it heals.
///
/// - `recovery`: time from killing a role (memory) to its restarted
///   successor being published for new requests (p50/p99 over many kills).
/// - `crash_free` / `crash_1pct`: tasks/s of the agent loop (offline model,
///   one calculator step, 1,000 tasks in flight) without faults, and while
///   the planner crashes on 1% of its messages. A crash also fails every
///   request queued in the crashed role's mailbox (CAF bounces them), so
///   `succeeded_per_s` is the figure to compare.
///
/// Usage: supervision [--quick]. One JSON line per scenario on stdout.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "config/config.hpp"
#include "actors/engine.hpp"
#include "core/log.hpp"
#include "support/output.hpp"
#include "support/stats.hpp"
#include "support/timing.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using namespace troupe;
using bench::ms_since;
using bench::percentile;
using bench::print_figure;

void print_line(const char* scenario, size_t threads, size_t in_flight,
                size_t tasks, double wall_ms, double p50_ms, double p99_ms,
                const std::string& extra = {}) {
  auto tps = wall_ms > 0 ? static_cast<double>(tasks) / (wall_ms / 1000) : 0;
  auto us = tasks > 0 ? wall_ms * 1000 / static_cast<double>(tasks) : 0;
  print_figure("{\"scenario\":\"%s\",\"threads\":%zu,\"in_flight\":%zu,"
               "\"tasks\":%zu,\"wall_ms\":%.3f,\"tasks_per_s\":%.1f,"
               "\"us_per_task\":%.3f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
               "\"rss_per_task_bytes\":null%s}\n",
               scenario, threads, in_flight, tasks, wall_ms, tps, us, p50_ms,
               p99_ms, extra.c_str());
}

/// Runs `body` against a fresh engine on 2 scheduler threads, configured by
/// `ecfg` (restarts effectively unlimited: the drills crash on purpose).
template <class F>
void with_engine(engine_config ecfg, F body) {
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  ecfg.access.principals["bench"] = "admin";
  for (auto* pol :
       {&ecfg.supervision.root, &ecfg.supervision.providers,
        &ecfg.supervision.tool_executors, &ecfg.supervision.planners})
    pol->intensity = 1000000;
  auto eng = engine::start(sys, ecfg);
  if (!eng) {
    std::fprintf(stderr, "engine: %s\n", describe(eng.error()).c_str());
    return;
  }
  body(sys, **eng);
}

/// Kills the memory role `kills` times; each time, measures until the new
/// handle is published.
void recovery(caf::actor_system&, const engine& eng, size_t kills) {
  std::vector<double> ms;
  auto start = clock_type::now();
  for (size_t i = 0; i < kills; ++i) {
    auto old = eng.memory();
    auto t0 = clock_type::now();
    caf::anon_send_exit(old, caf::exit_reason::kill);
    auto until = t0 + 5s;
    while (eng.memory() == old && clock_type::now() < until)
      std::this_thread::yield();
    ms.push_back(ms_since(t0));
  }
  auto wall = ms_since(start);
  auto s = bench::summarize(std::move(ms));
  print_line("recovery", 2, 1, kills, wall, s.p50, s.p99,
             ",\"role\":\"memory\"");
}

struct batch_outcome {
  double wall_ms = 0;
  size_t failed = 0;
  /// Requests retried after a crash (one per note).
  size_t retries = 0;
};

/// Runs `tasks` tasks, `in_flight` at a time.
batch_outcome run_batch(caf::actor_system& sys, const engine& eng,
                                    size_t tasks, size_t in_flight) {
  caf::scoped_actor self{sys};
  auto entry = eng.tasks();
  size_t failed = 0;
  size_t retries = 0;
  auto start = clock_type::now();
  for (size_t done = 0; done < tasks; done += in_flight) {
    using handle_type =
      decltype(self->request(entry, 60s, run_atom::value, task_request{}));
    std::vector<handle_type> pending;
    auto n = std::min(in_flight, tasks - done);
    pending.reserve(n);
    for (size_t i = 0; i < n; ++i)
      pending.push_back(
        self->request(entry, 60s, run_atom::value,
                      task_request{0, "bench", "bench", "What is 17 + 25?"}));
    for (auto& h : pending)
      h.receive(
        [&](task_result& r) {
          if (r.status != task_status::completed)
            ++failed;
          retries += r.notes.size();
        },
        [&](caf::error&) { ++failed; });
  }
  return {ms_since(start), failed, retries};
}

/// Succeeded tasks per second of one batch (after a warm-up), printed as
/// one line.
double throughput(caf::actor_system& sys, const engine& eng,
                  const char* scenario, size_t tasks, uint32_t crash_every) {
  run_batch(sys, eng, 2000, 1000); // warm-up
  auto [wall, failed, retries] = run_batch(sys, eng, tasks, 1000);
  auto ok_per_s = static_cast<double>(tasks - failed) / (wall / 1000);
  print_line(scenario, 2, 1000, tasks, wall, 0, 0,
             ",\"failed\":" + std::to_string(failed) +
               ",\"retries\":" + std::to_string(retries) +
               ",\"succeeded_per_s\":" + std::to_string(ok_per_s) +
               ",\"planner_crash_every\":" + std::to_string(crash_every));
  return ok_per_s;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view{argv[i]} == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: supervision [--quick]\n");
      return 2;
    }
  }
  log::set_level("off");
  with_engine({}, [&](caf::actor_system& sys, const engine& eng) {
    recovery(sys, eng, quick ? 200 : 2000);
  });
  // This VM's timings swing by tens of percent from run to run: alternate
  // crash-free and faulty rounds and compare their medians.
  auto tasks = quick ? size_t{20000} : size_t{50000};
  auto rounds = quick ? 1 : 3;
  std::vector<double> free_rates;
  std::vector<double> faulty_rates;
  // The planner sees two messages per task: every 100th is 1% of them.
  engine_config faulty;
  faulty.faults["planner"] = fault_spec{fault_mode::crash, 100};
  for (int i = 0; i < rounds; ++i) {
    with_engine({}, [&](caf::actor_system& sys, const engine& eng) {
      free_rates.push_back(throughput(sys, eng, "crash_free", tasks, 0));
    });
    with_engine(faulty, [&](caf::actor_system& sys, const engine& eng) {
      faulty_rates.push_back(throughput(sys, eng, "crash_1pct", tasks, 100));
    });
  }
  auto free_median = percentile(free_rates, 0.5);
  auto faulty_median = percentile(faulty_rates, 0.5);
  print_figure("{\"scenario\":\"crash_1pct_vs_free\",\"rounds\":%d,"
               "\"crash_free_median_per_s\":%.1f,"
               "\"crash_1pct_median_per_s\":%.1f,\"ratio\":%.3f}\n",
               rounds, free_median, faulty_median,
               free_median > 0 ? faulty_median / free_median : 0.0);
  return 0;
}
