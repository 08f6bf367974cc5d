/// bench/agent_loop: the cost of the canonical agent loop through the real
/// actors (task manager, runner, guardrail, planner, memory, tool executor,
/// monitor) with a scripted model, plus a bare three-actor chain to compare
/// against other frameworks. Each scenario prints one JSON line on stdout.
///
/// Usage: agent_loop [--quick] [--scenario NAME]
///   NAME: sequential | throughput | latency50ms | chain3

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "actors/engine.hpp"
#include "core/json.hpp"
#include "core/log.hpp"

namespace {

/// Defaults, with the benchmark's principal allowed to use memory.
troupe::engine_config bench_config() {
  troupe::engine_config cfg;
  cfg.access.principals["bench"] = "admin";
  return cfg;
}

} // namespace

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using troupe::chat_message;
using troupe::chat_request;
using troupe::chat_response;
using troupe::chat_role;
using troupe::run_atom;
using troupe::task_request;
using troupe::task_result;

// -- options
// -------------------------------------------------------------------

struct bench_options {
  bool quick = false;
  /// Empty: run every scenario.
  std::string scenario;
};

// -- process memory
// ------------------------------------------------------------

/// Reads a `kB` field such as `VmRSS` from /proc/self/status, in bytes.
int64_t proc_status_bytes(std::string_view key) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':')
      return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10) * 1024;
  }
  return -1;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0); false if not permitted.
bool reset_peak_rss() {
  std::ofstream out{"/proc/self/clear_refs"};
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// -- actor system
// --------------------------------------------------------------

/// A Troupe-ready config whose scheduler runs `threads` worker threads.
void configure(caf::actor_system_config& cfg, size_t threads) {
  troupe::register_types(cfg);
  cfg.set("scheduler.max-threads", threads);
}

// -- scripted model
// ------------------------------------------------------------

using wake_atom = caf::atom_constant<caf::atom("bench_wake")>;

/// The provider interface plus a private timer message, so a slow "model"
/// parks a response promise instead of blocking a scheduler thread.
using scripted_provider_actor =
  troupe::provider_actor::extend<caf::reacts_to<wake_atom, uint64_t>>;

struct parked_reply {
  clock_type::time_point due;
  caf::typed_response_promise<chat_response> promise;
  chat_response response;
};

struct scripted_provider_state {
  std::chrono::microseconds latency{0};
  /// Parked replies, due in order (the latency is constant).
  std::deque<parked_reply> parked;
  /// Whether a wake-up is scheduled.
  bool armed = false;

  static inline const char* name = "bench.scripted_provider";
};

/// Returns the first two unsigned integers in `text`.
std::optional<std::pair<int64_t, int64_t>> two_numbers(std::string_view text) {
  int64_t xs[2] = {0, 0};
  size_t found = 0;
  for (size_t i = 0; i < text.size() && found < 2;) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    int64_t x = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
      x = x * 10 + (text[i] - '0');
    xs[found++] = x;
  }
  if (found < 2)
    return std::nullopt;
  return std::pair{xs[0], xs[1]};
}

/// The script: after a tool message, answer with the sum it holds; else ask
/// for `add` with the two numbers of the user's text. Hand-parsed (no JSON
/// library) so the stand-in model costs as little as possible.
chat_response scripted_complete(const chat_request& req) {
  chat_response out;
  if (req.messages.empty()) {
    out.content = "error: empty conversation";
    return out;
  }
  auto& last = req.messages.back();
  if (last.role == chat_role::tool) {
    constexpr std::string_view key = "\"sum\":";
    auto pos = last.content.find(key);
    if (pos == std::string::npos) {
      out.content = "error: tool said " + last.content;
      return out;
    }
    auto sum =
      std::strtoll(last.content.c_str() + pos + key.size(), nullptr, 10);
    out.content = "The sum is " + std::to_string(sum) + ".";
    return out;
  }
  std::string_view user_text;
  for (auto i = req.messages.rbegin(); i != req.messages.rend(); ++i)
    if (i->role == chat_role::user) {
      user_text = i->content;
      break;
    }
  auto nums = two_numbers(user_text);
  if (!nums) {
    out.content = "error: no two numbers in the task";
    return out;
  }
  out.tool_calls.push_back(
    troupe::tool_call{"call_1", "add",
                      "{\"a\":" + std::to_string(nums->first) +
                        ",\"b\":" + std::to_string(nums->second) + "}"});
  return out;
}

scripted_provider_actor::behavior_type scripted_provider(
  scripted_provider_actor::stateful_pointer<scripted_provider_state> self,
  std::chrono::microseconds latency) {
  self->state.latency = latency;
  return {
    [=](troupe::complete_atom,
        const chat_request& req) -> caf::result<chat_response> {
      auto resp = scripted_complete(req);
      auto& st = self->state;
      if (st.latency.count() == 0)
        return resp;
      // A real model answers later: park the promise, never block a thread.
      // One timer serves all parked replies (a timer per reply would
      // measure CAF's clock queue, not the engine).
      auto rp = self->make_response_promise<chat_response>();
      st.parked.push_back(
        parked_reply{clock_type::now() + st.latency, rp, std::move(resp)});
      if (!st.armed) {
        st.armed = true;
        self->delayed_send(self, st.latency, wake_atom::value, uint64_t{0});
      }
      return rp;
    },
    [=](wake_atom, uint64_t) {
      auto& st = self->state;
      auto now = clock_type::now();
      while (!st.parked.empty() && st.parked.front().due <= now) {
        st.parked.front().promise.deliver(
          std::move(st.parked.front().response));
        st.parked.pop_front();
      }
      if (st.parked.empty()) {
        st.armed = false;
        return;
      }
      auto wait = std::chrono::duration_cast<std::chrono::microseconds>(
        st.parked.front().due - now);
      self->delayed_send(self, std::max(wait, std::chrono::microseconds{100}),
                         wake_atom::value, uint64_t{0});
    },
  };
}

/// The one tool of the bench: `{"a":number,"b":number}` -> `{"sum":a+b}`.
troupe::tools::entry add_tool() {
  troupe::tools::entry e;
  e.spec.name = "add";
  e.spec.description = "Adds two numbers.";
  e.spec.parameters = R"({"type":"object","properties":{"a":{"type":"number"},)"
                      R"("b":{"type":"number"}},"required":["a","b"]})";
  e.fn = [](const troupe::json& args,
            const troupe::tools::context&) -> troupe::result<troupe::json> {
    auto a = args.find("a");
    auto b = args.find("b");
    if (a == args.end() || b == args.end() || !a->is_number() ||
        !b->is_number())
      return troupe::failure{troupe::errc::invalid_arguments,
                             "add needs numbers 'a' and 'b'"};
    if (a->is_number_integer() && b->is_number_integer())
      return troupe::json{{"sum", a->get<int64_t>() + b->get<int64_t>()}};
    return troupe::json{{"sum", a->get<double>() + b->get<double>()}};
  };
  return e;
}

// -- driver
// --------------------------------------------------------------------

using client_done_atom = caf::atom_constant<caf::atom("bench_done")>;

/// What one driver run measured.
struct run_stats {
  size_t tasks = 0;
  size_t errors = 0;
  std::vector<std::string> error_samples;
  std::chrono::nanoseconds wall{0};
  /// Per task, submit -> result; sorted once the run is over.
  std::vector<int64_t> latencies_ns;
  /// Peak VmRSS seen by the sampler (0 when not sampling).
  int64_t sampled_peak_rss = 0;

  double percentile_ms(double q) const {
    if (latencies_ns.empty())
      return 0;
    auto i = static_cast<size_t>(q * static_cast<double>(latencies_ns.size()));
    return static_cast<double>(
             latencies_ns[std::min(i, latencies_ns.size() - 1)]) /
           1e6;
  }
};

/// Most requests one client actor keeps open. CAF 0.17 keeps an actor's
/// pending `then` handlers in a flat vector (linear find, shifting erase), so
/// a single actor with N open requests pays O(N) per response: the driver
/// shards its load over clients so that its own cost stays flat.
constexpr size_t max_open_per_client = 64;

/// What one client saw; written by that client only.
struct client_tally {
  size_t errors = 0;
  std::vector<std::string> samples;
  clock_type::time_point end;
};

/// One closed-loop load run, shared by main, the driver and its clients.
/// Every buffer is allocated up front, so it is not counted as per-task
/// memory; each client writes only its own task indices and tally.
template <class Job>
struct load_run {
  load_run(Job job_arg, size_t in_flight_arg, size_t total_arg)
    : job(std::move(job_arg)), total(total_arg),
      in_flight(std::min(in_flight_arg, total_arg)),
      clients((in_flight + max_open_per_client - 1) / max_open_per_client),
      starts(total), latencies_ns(total), tallies(clients) {}

  Job job;
  size_t total;
  size_t in_flight;
  size_t clients;
  std::vector<clock_type::time_point> starts;
  std::vector<int64_t> latencies_ns;
  std::vector<client_tally> tallies;
  clock_type::time_point t0;
  std::promise<void> done;
};

/// Part `j` of `n` items split into `k` near-equal parts.
size_t share(size_t n, size_t k, size_t j) {
  return n / k + (j < n % k ? 1 : 0);
}

template <class Job>
struct client_state {
  load_run<Job>* run = nullptr;
  size_t index = 0;
  /// The next task index this client submits (index, index + K, ...).
  size_t next = 0;
  size_t open = 0;
  caf::actor driver;

  static inline const char* name = "bench.client";
};

template <class Job>
using client_pointer = caf::stateful_actor<client_state<Job>>*;

template <class Job>
void client_submit(client_pointer<Job> self);

template <class Job>
void client_finished(client_pointer<Job> self, size_t i, std::string err) {
  auto now = clock_type::now();
  auto& st = self->state;
  auto& run = *st.run;
  run.latencies_ns[i] = (now - run.starts[i]).count();
  auto& tally = run.tallies[st.index];
  if (!err.empty()) {
    ++tally.errors;
    if (tally.samples.size() < 10)
      tally.samples.push_back("task " + std::to_string(i) + ": " +
                              std::move(err));
  }
  --st.open;
  if (st.next < run.total) {
    client_submit(self);
  } else if (st.open == 0) {
    tally.end = now;
    self->send(st.driver, client_done_atom::value);
    self->quit();
  }
}

template <class Job>
void client_submit(client_pointer<Job> self) {
  auto& st = self->state;
  auto i = st.next;
  st.next += st.run->clients;
  ++st.open;
  st.run->starts[i] = clock_type::now();
  st.run->job.submit(self, i, [self, i](std::string err) {
    client_finished(self, i, std::move(err));
  });
}

template <class Job>
caf::behavior client_role(client_pointer<Job> self, load_run<Job>* run,
                          size_t index, caf::actor driver) {
  auto& st = self->state;
  st.run = run;
  st.index = index;
  st.next = index;
  st.driver = std::move(driver);
  auto open = share(run->in_flight, run->clients, index);
  for (size_t k = 0; k < open && st.next < run->total; ++k)
    client_submit(self);
  // Only responses matter; a handler keeps the behavior non-empty.
  return {[](troupe::stats_atom) {}};
}

/// The driver: starts the clients (together they keep `in_flight` tasks
/// open, each submitting a new task when one finishes) and reports to main
/// once all `total` tasks are done. Shares `run` so that it outlives the
/// promise hand-over.
template <class Job>
caf::behavior driver_role(caf::event_based_actor* self,
                          std::shared_ptr<load_run<Job>> run) {
  run->t0 = clock_type::now();
  auto me = caf::actor_cast<caf::actor>(self);
  for (size_t j = 0; j < run->clients; ++j)
    self->spawn(client_role<Job>, run.get(), j, me);
  auto left = std::make_shared<size_t>(run->clients);
  return {
    [=](client_done_atom) {
      if (--*left > 0)
        return;
      self->quit();
      run->done.set_value();
    },
  };
}

/// Runs `run` to its end; with `sample_rss`, main polls VmRSS while waiting
/// (the driver itself never blocks).
template <class Job>
run_stats drive(caf::actor_system& sys, std::shared_ptr<load_run<Job>> run,
                bool sample_rss = false) {
  auto fut = run->done.get_future();
  sys.spawn(driver_role<Job>, run);
  run_stats stats;
  if (sample_rss)
    while (fut.wait_for(2ms) != std::future_status::ready)
      stats.sampled_peak_rss =
        std::max(stats.sampled_peak_rss, proc_status_bytes("VmRSS"));
  fut.get();
  auto end = run->t0;
  for (auto& t : run->tallies) {
    end = std::max(end, t.end);
    stats.errors += t.errors;
    for (auto& e : t.samples)
      if (stats.error_samples.size() < 10)
        stats.error_samples.push_back(e);
  }
  stats.tasks = run->total;
  stats.wall = end - run->t0;
  stats.latencies_ns = std::move(run->latencies_ns);
  std::sort(stats.latencies_ns.begin(), stats.latencies_ns.end());
  for (auto& e : stats.error_samples)
    std::cerr << "agent_loop: error: " << e << "\n";
  return stats;
}

template <class Job>
run_stats drive(caf::actor_system& sys, Job job, size_t in_flight,
                size_t total) {
  return drive(
    sys, std::make_shared<load_run<Job>>(std::move(job), in_flight, total));
}
/// One agent task: "Please add A and B", expecting "The sum is A+B." after
/// exactly one tool step.
struct agent_job {
  troupe::task_actor tasks;

  static int64_t a_of(size_t i) {
    return static_cast<int64_t>((i * 7919) % 100000);
  }

  static int64_t b_of(size_t i) {
    return static_cast<int64_t>((i * 104729 + 13) % 99991);
  }

  static std::string check(const task_result& r, size_t i) {
    if (r.status != troupe::task_status::completed)
      return std::string{"status "} + troupe::to_string(r.status) + " (" +
             r.error_code + "): " + r.answer;
    auto want = "The sum is " + std::to_string(a_of(i) + b_of(i)) + ".";
    if (r.answer != want)
      return "answer '" + r.answer + "', want '" + want + "'";
    if (r.steps.size() != 1 || r.steps[0].results.size() != 1 ||
        !r.steps[0].results[0].ok)
      return "expected one successful tool step, got " +
             std::to_string(r.steps.size()) + " step(s)";
    return {};
  }

  template <class Self, class Done>
  void submit(Self* self, size_t i, Done done) const {
    task_request req{0, "bench", "bench",
                     "Please add " + std::to_string(a_of(i)) + " and " +
                       std::to_string(b_of(i))};
    // No deadline of our own: every step inside the runner has one, and a
    // driver-side timer per task would be measured as engine cost.
    self->request(tasks, caf::infinite, run_atom::value, std::move(req))
      .then([=](task_result& r) { done(check(r, i)); },
            [=](caf::error& e) { done("error: " + troupe::describe(e)); });
  }
};

// -- bare chain
// ----------------------------------------------------------------

using chain_actor =
  caf::typed_actor<caf::replies_to<run_atom, int64_t>::with<int64_t>>;

/// A middle link: adds one and passes the request on (the last link's reply
/// goes straight back to the driver).
chain_actor::behavior_type chain_link(chain_actor::pointer self,
                                      chain_actor next) {
  return {
    [=](run_atom, int64_t x) -> caf::result<int64_t> {
      return self->delegate(next, run_atom::value, x + 1);
    },
  };
}

chain_actor::behavior_type chain_end(chain_actor::pointer) {
  return {
    [](run_atom, int64_t x) { return x + 1; },
  };
}

struct chain_job {
  chain_actor head;

  template <class Self, class Done>
  void submit(Self* self, size_t i, Done done) const {
    auto x = static_cast<int64_t>(i);
    self->request(head, caf::infinite, run_atom::value, x)
      .then(
        [=](int64_t y) {
          done(y == x + 3 ? std::string{}
                          : "got " + std::to_string(y) + ", want " +
                              std::to_string(x + 3));
        },
        [=](caf::error& e) { done("error: " + troupe::describe(e)); });
  }
};

// -- reporting
// -----------------------------------------------------------------

using report = nlohmann::ordered_json;

report make_report(std::string_view scenario, size_t threads, size_t in_flight,
                   const run_stats& s) {
  auto wall_us = std::chrono::duration<double, std::micro>(s.wall).count();
  report r;
  r["scenario"] = scenario;
  r["threads"] = threads;
  r["in_flight"] = in_flight;
  r["tasks"] = s.tasks;
  r["wall_ms"] = wall_us / 1000;
  r["tasks_per_s"] = static_cast<double>(s.tasks) / (wall_us / 1e6);
  r["us_per_task"] = wall_us / static_cast<double>(s.tasks);
  r["p50_ms"] = s.percentile_ms(0.50);
  r["p99_ms"] = s.percentile_ms(0.99);
  r["rss_per_task_bytes"] = nullptr;
  r["errors"] = s.errors;
  return r;
}

/// Rounds the floating-point fields so a line stays readable.
void print(report r) {
  for (auto& [key, value] : r.items())
    if (value.is_number_float())
      value = std::round(value.get<double>() * 1000) / 1000;
  std::cout << r.dump() << std::endl;
}

/// Fails loudly: a bench that cannot start its engine has nothing to report.
std::unique_ptr<troupe::engine>
start_engine(caf::actor_system& sys, std::chrono::microseconds latency) {
  troupe::engine_options opts;
  opts.provider = sys.spawn(scripted_provider, latency);
  opts.extra_tools.push_back(add_tool());
  auto eng =
    troupe::engine::start(sys, bench_config(), std::move(opts));
  if (!eng) {
    std::cerr << "agent_loop: cannot start the engine: "
              << troupe::describe(eng.error()) << "\n";
    std::exit(1);
  }
  return std::move(*eng);
}

// -- scenarios
// -----------------------------------------------------------------

void run_sequential(const bench_options& opts) {
  size_t warmup = opts.quick ? 1000 : 2000;
  size_t tasks = opts.quick ? 5000 : 20000;
  caf::actor_system_config cfg;
  configure(cfg, 1);
  caf::actor_system sys{cfg};
  auto eng = start_engine(sys, 0us);
  drive(sys, agent_job{eng->tasks()}, 1, warmup);
  auto s = drive(sys, agent_job{eng->tasks()}, 1, tasks);
  print(make_report("sequential", 1, 1, s));
  eng.reset();
}

void run_throughput(const bench_options& opts) {
  size_t in_flight = 1000;
  size_t warmup = opts.quick ? 2000 : 10000;
  size_t tasks = opts.quick ? 20000 : 200000;
  for (size_t threads : {size_t{1}, size_t{2}}) {
    caf::actor_system_config cfg;
    configure(cfg, threads);
    caf::actor_system sys{cfg};
    auto eng = start_engine(sys, 0us);
    drive(sys, agent_job{eng->tasks()}, in_flight, warmup);
    auto s = drive(sys, agent_job{eng->tasks()}, in_flight, tasks);
    print(make_report("throughput", threads, in_flight, s));
    eng.reset();
  }
}

void run_latency(const bench_options& opts) {
  constexpr size_t threads = 2;
  // 100k open tasks take over a minute (see the report), too long for
  // --quick.
  std::vector<size_t> sizes{1000, 10000};
  if (!opts.quick)
    sizes.push_back(100000);
  for (auto n : sizes) {
    caf::actor_system_config cfg;
    configure(cfg, threads);
    caf::actor_system sys{cfg};
    auto eng = start_engine(sys, 50ms);
    // No warm-up: it would pre-grow the allocator's pools and hide the very
    // memory this scenario measures. Freed memory of earlier scenarios goes
    // back to the OS first so the baseline is honest.
    auto run =
      std::make_shared<load_run<agent_job>>(agent_job{eng->tasks()}, n, n);
    malloc_trim(0);
    bool hwm_ok = reset_peak_rss();
    auto before = proc_status_bytes("VmRSS");
    auto s = drive(sys, std::move(run), true);
    auto peak = hwm_ok ? proc_status_bytes("VmHWM") : s.sampled_peak_rss;
    auto r = make_report("latency50ms", threads, n, s);
    r["model_latency_ms"] = 50;
    r["rss_per_task_bytes"] =
      static_cast<double>(peak - before) / static_cast<double>(n);
    r["rss_sampled_per_task_bytes"] =
      static_cast<double>(s.sampled_peak_rss - before) / static_cast<double>(n);
    r["rss_before_mb"] = static_cast<double>(before) / (1 << 20);
    r["rss_peak_mb"] = static_cast<double>(peak) / (1 << 20);
    print(std::move(r));
    eng.reset();
  }
}

void run_chain3(const bench_options& opts) {
  auto spawn_chain = [](caf::actor_system& sys) {
    auto c = sys.spawn(chain_end);
    auto b = sys.spawn(chain_link, c);
    auto a = sys.spawn(chain_link, b);
    return std::vector<chain_actor>{a, b, c};
  };
  auto stop_chain = [](const std::vector<chain_actor>& xs) {
    for (auto& x : xs)
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  };
  {
    size_t warmup = opts.quick ? 10000 : 50000;
    size_t runs = opts.quick ? 50000 : 500000;
    caf::actor_system_config cfg;
    configure(cfg, 1);
    caf::actor_system sys{cfg};
    auto chain = spawn_chain(sys);
    drive(sys, chain_job{chain[0]}, 1, warmup);
    auto s = drive(sys, chain_job{chain[0]}, 1, runs);
    print(make_report("chain3", 1, 1, s));
    stop_chain(chain);
  }
  {
    constexpr size_t burst = 10000;
    size_t repeats = opts.quick ? 5 : 21;
    caf::actor_system_config cfg;
    configure(cfg, 2);
    caf::actor_system sys{cfg};
    auto chain = spawn_chain(sys);
    drive(sys, chain_job{chain[0]}, burst, burst);
    // A burst lasts a few ms: report the median of several.
    std::vector<run_stats> all;
    for (size_t i = 0; i < repeats; ++i)
      all.push_back(drive(sys, chain_job{chain[0]}, burst, burst));
    std::sort(all.begin(), all.end(),
              [](auto& x, auto& y) { return x.wall < y.wall; });
    auto& median = all[all.size() / 2];
    size_t errors = 0;
    for (auto& x : all)
      errors += x.errors;
    auto r = make_report("chain3_burst", 2, burst, median);
    r["errors"] = errors;
    r["bursts"] = repeats;
    r["best_wall_ms"] =
      std::chrono::duration<double, std::milli>(all.front().wall).count();
    print(std::move(r));
    stop_chain(chain);
  }
}

} // namespace

int main(int argc, char** argv) {
  bench_options opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--quick") {
      opts.quick = true;
    } else if (a == "--scenario" && i + 1 < argc) {
      opts.scenario = argv[++i];
    } else {
      std::cerr << "usage: agent_loop [--quick] [--scenario "
                   "sequential|throughput|latency50ms|chain3]\n";
      return 2;
    }
  }
  // Log lines would cost more than the work being measured.
  if (auto ok = troupe::log::set_level("off"); !ok) {
    std::cerr << "agent_loop: " << ok.error().message << "\n";
    return 2;
  }
  struct scenario {
    std::string_view name;
    void (*run)(const bench_options&);
  };
  // latency50ms runs first: its RSS deltas are only honest on a heap that
  // earlier scenarios have not already grown (glibc keeps freed chunks).
  constexpr scenario scenarios[] = {
    {"latency50ms", run_latency},
    {"sequential", run_sequential},
    {"throughput", run_throughput},
    {"chain3", run_chain3},
  };
  bool any = false;
  for (auto& s : scenarios)
    if (opts.scenario.empty() || opts.scenario == s.name) {
      s.run(opts);
      any = true;
    }
  if (!any) {
    std::cerr << "agent_loop: unknown scenario '" << opts.scenario << "'\n";
    return 2;
  }
  return 0;
}
