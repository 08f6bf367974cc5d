/// bench/tools: what the tool executor costs.
///
/// - `trivial_calls`: calls/s of a trivial tool through the executor (the
///   guardrail's approval checked, arguments checked against the schema,
///   result back to the caller), 256 in flight from one caller actor.
///   Run with an immediate tool (on the executor's thread) and with a
///   blocking one (on the worker pool).
/// - `fan_out_*`: one caller sends the calls of a step at once and waits
///   for all of them, one step after another: time per step (p50/p99) with
///   8 calls and with 1, and what the 7 more add (`overhead_p50_us`).
/// - `mcp_echo`: round trips/s of `echo` to @modelcontextprotocol/
///   server-everything over stdio, 64 in flight (needs tests/mcp's npm
///   install; skipped with a note otherwise).
///
/// - `remote_*` (issue 9): calls to a tool executor on another node (a
///   `troupe node` child process): pipelined calls/s, one-at-a-time
///   latency against a local executor, and the agent loop's tasks/s with
///   its tools there.
///
/// Usage: tools [--quick] [SCENARIO-PREFIX]. One JSON line per scenario on
/// stdout.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "config/config.hpp"
#include "actors/engine.hpp"
#include "cluster/node.hpp"
#include "actors/tool_executor.hpp"
#include "core/log.hpp"
#include "mcp/server.hpp"
#include "memory/long_term.hpp"
#include "support/load.hpp"
#include "support/output.hpp"
#include "support/process.hpp"
#include "support/stats.hpp"
#include "support/timing.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using namespace troupe;
using bench::ms_since;
using bench::print_figure;

/// A trivial tool: `{}` in, `{"ok":true}` out.
tools::entry trivial(std::string name, tools::run_mode mode) {
  tools::entry e{{std::move(name), "does nothing",
                  R"({"type":"object","properties":{"n":{"type":"integer"}}})"},
                 [](const json&, const tools::context&) -> result<json> {
                   return json{{"ok", true}};
                 }};
  e.mode = mode;
  return e;
}

/// `n` approved calls of `tool` (signed up front: the guardrail's cost is
/// not the executor's).
std::vector<tool_invocation> approvals(const guardrail::approval_key& key,
                                       const std::string& tool, size_t n) {
  std::vector<tool_invocation> out;
  out.reserve(n);
  auto until = memory::now_ms() + 600'000;
  for (size_t i = 0; i < n; ++i) {
    // The calculator takes an expression; the trivial tool a number.
    auto args = tool == "calculator"
                  ? "{\"expression\":\"1+" + std::to_string(i) + "\"}"
                  : "{\"n\":" + std::to_string(i) + "}";
    tool_invocation inv{{"c" + std::to_string(i), tool, args},
                        1,
                        "s",
                        "p"};
    inv.grant = guardrail::sign(key, inv, until);
    out.push_back(std::move(inv));
  }
  return out;
}

struct system_config : caf::actor_system_config {
  system_config() {
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

/// An executor over `extra` (and the built-ins).
tool_executor_actor spawn_executor(caf::actor_system& sys,
                                   const guardrail::approval_key& key,
                                   std::vector<tools::entry> extra) {
  engine_config cfg;
  cfg.tool_workers = 2;
  auto reg = make_tool_registry(cfg, std::move(extra));
  if (!reg) {
    std::fprintf(stderr, "tools: %s\n", reg.error().message.c_str());
    std::exit(1);
  }
  auto setup = make_tool_setup(
    cfg, std::make_shared<tools::catalog>(std::move(*reg)),
    std::make_shared<guardrail::approval_verifier>(key));
  return sys.spawn(tool_executor_role,
                   std::shared_ptr<const tool_executor_setup>{setup},
                   fault_spec{});
}

/// Sends `calls` to `exec` with `in_flight` outstanding from one caller
/// actor; returns the calls answered ok and the wall time in ms.
std::pair<size_t, double> pipelined(caf::actor_system& sys,
                                    const tool_executor_actor& exec,
                                    std::vector<tool_invocation> calls,
                                    size_t in_flight) {
  auto r = bench::closed_loop(
    sys,
    {.total = calls.size(), .clients = 1, .per_client = in_flight,
     .record_latencies = false},
    [&](caf::event_based_actor* self, size_t i, auto done) {
      self->request(exec, caf::infinite, call_atom::value, std::move(calls[i]))
        .then([=](tool_result& res) { done(res.ok); },
              [=](caf::error&) { done(false); });
    });
  return {r.ok, r.wall_ms};
}

void print_calls(const char* scenario, size_t n, size_t ok, size_t in_flight,
                 double wall) {
  print_figure("{\"scenario\":\"%s\",\"calls\":%zu,\"ok\":%zu,\"in_flight\":%zu,"
               "\"wall_ms\":%.1f,\"calls_per_s\":%.0f,\"us_per_call\":%.3f}\n",
               scenario, n, ok, in_flight, wall,
               static_cast<double>(n) / (wall / 1000),
               wall * 1000 / static_cast<double>(n));
}

/// Calls/s with `in_flight` calls outstanding from one caller actor.
void trivial_calls(const char* scenario, tools::run_mode mode, size_t n,
                   size_t in_flight) {
  system_config cfg;
  caf::actor_system sys{cfg};
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(sys, key, {trivial("noop", mode)});
  auto [ok, wall] = pipelined(sys, exec, approvals(key, "noop", n), in_flight);
  print_calls(scenario, n, ok, in_flight, wall);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
}

/// Sends `xs` to `exec` in steps of `width` parallel calls, one step at a
/// time; returns each step's time in µs (the first tenth, warm-up, left
/// out).
std::vector<double> stepwise(caf::actor_system& sys,
                             const tool_executor_actor& exec,
                             std::vector<tool_invocation> xs, size_t width) {
  auto steps = xs.size() / width;
  auto calls = std::make_shared<std::vector<tool_invocation>>(std::move(xs));
  std::promise<std::vector<double>> done;
  auto fut = done.get_future();
  sys.spawn([&, calls](caf::event_based_actor* self) {
    auto step = std::make_shared<size_t>(0);
    auto got = std::make_shared<size_t>(0);
    auto lat = std::make_shared<std::vector<double>>();
    auto started = std::make_shared<clock_type::time_point>();
    auto next = std::make_shared<std::function<void()>>();
    *next = [=, &done] {
      *got = 0;
      *started = clock_type::now();
      for (size_t k = 0; k < width; ++k) {
        auto& inv = (*calls)[*step * width + k];
        auto one = [=, &done] {
          if (++*got < width)
            return;
          lat->push_back(ms_since(*started) * 1000);
          if (++*step == steps)
            done.set_value(*lat);
          else
            (*next)();
        };
        self->request(exec, caf::infinite, call_atom::value, std::move(inv))
          .then([=](tool_result&) { one(); }, [=](caf::error&) { one(); });
      }
    };
    (*next)();
  });
  auto lat = fut.get();
  lat.erase(lat.begin(), lat.begin() + static_cast<long>(lat.size() / 10));
  return lat;
}

/// Time per step of `width` parallel calls, one step at a time; returns
/// the p50 in µs.
double fan_out(const char* scenario, tools::run_mode mode, size_t steps,
               size_t width) {
  system_config cfg;
  caf::actor_system sys{cfg};
  auto key = guardrail::approval_key::random();
  auto exec = spawn_executor(sys, key, {trivial("noop", mode)});
  auto lat = bench::summarize(
    stepwise(sys, exec, approvals(key, "noop", steps * width), width));
  print_figure("{\"scenario\":\"%s\",\"steps\":%zu,\"width\":%zu,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
               scenario, steps, width, lat.p50, lat.p99);
  caf::anon_send_exit(exec, caf::exit_reason::user_shutdown);
  return lat.p50;
}

/// A step of 8 parallel calls against a step of 1: what the fan-out adds.
void fan_out_overhead(const char* scenario, tools::run_mode mode,
                      size_t steps) {
  auto one = fan_out((std::string{scenario} + "_width_1").c_str(), mode,
                     steps, 1);
  auto eight = fan_out((std::string{scenario} + "_width_8").c_str(), mode,
                       steps, 8);
  print_figure("{\"scenario\":\"%s\",\"overhead_p50_us\":%.1f}\n", scenario,
               eight - one);
}

/// Round trips/s of `echo` to server-everything, `in_flight` outstanding.
void mcp_echo(size_t n, size_t in_flight) {
  auto script = std::filesystem::path{TROUPE_SOURCE_DIR} /
                "tests/mcp/node_modules/@modelcontextprotocol/"
                "server-everything/dist/index.js";
  if (!std::filesystem::exists(script)) {
    print_figure("{\"scenario\":\"mcp_echo\",\"skipped\":\"run scripts/setup "
                 "(npm ci in tests/mcp) first\"}\n");
    return;
  }
  mcp::server_config cfg;
  cfg.name = "ev";
  cfg.command = "node";
  cfg.args = {script.string(), "stdio"};
  mcp::server srv{cfg, [](const std::string&, std::vector<tools::entry>) {}};
  if (auto ok = srv.wait_ready(clock_type::now() + 20s); !ok) {
    print_figure("{\"scenario\":\"mcp_echo\",\"error\":\"%s\"}\n",
                 ok.error().message.c_str());
    return;
  }
  std::mutex mtx;
  std::condition_variable cv;
  size_t sent = 0;
  size_t got = 0;
  size_t ok = 0;
  std::vector<double> lat;
  lat.reserve(n);
  std::function<void()> send_one = [&] {
    // Called with `mtx` held.
    ++sent;
    auto t = clock_type::now();
    srv.call("echo", json{{"message", "hi"}}, tools::context{},
             [&, t](result<json> r) {
               std::lock_guard<std::mutex> guard{mtx};
               lat.push_back(ms_since(t) * 1000);
               ok += r ? 1 : 0;
               ++got;
               if (sent < n)
                 send_one();
               cv.notify_all();
             });
  };
  auto t0 = clock_type::now();
  {
    std::unique_lock<std::mutex> guard{mtx};
    for (size_t i = 0; i < std::min(in_flight, n); ++i)
      send_one();
    cv.wait(guard, [&] { return got == n; });
  }
  auto wall = ms_since(t0);
  auto s = bench::summarize(std::move(lat));
  print_figure("{\"scenario\":\"mcp_echo\",\"calls\":%zu,\"ok\":%zu,"
               "\"in_flight\":%zu,\"wall_ms\":%.1f,\"calls_per_s\":%.0f,"
               "\"p50_us\":%.0f,\"p99_us\":%.0f}\n",
               n, ok, in_flight, wall, static_cast<double>(n) / (wall / 1000),
               s.p50, s.p99);
}

/// A `troupe node --roles tools` child process, killed with the bench.
struct tool_node {
  bench::child_process proc;
  uint16_t port = 0;

  explicit tool_node(const guardrail::approval_key& key)
    : proc(bench::child_process::start(
        {TROUPE_CLI_PATH, "node", "--roles", "tools", "--listen",
         "127.0.0.1:0"},
        {"TROUPE_APPROVAL_KEY=" + key.hex()})) {
    auto line = proc.read_line();
    // "troupe node NAME: serving tools on HOST:PORT"
    auto at = line.rfind(" on ");
    auto ep = line.find("serving tools on") == std::string::npos ||
                  at == std::string::npos
                ? std::nullopt
                : parse_endpoint(line.substr(at + 4));
    if (!ep) {
      std::fprintf(stderr, "tool node did not start: %s\n", line.c_str());
      std::exit(1);
    }
    port = ep->second;
  }
};

struct network_config : caf::actor_system_config {
  network_config() {
    register_types(*this);
    load<caf::io::middleman>();
    set("scheduler.max-threads", 2);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

/// Tool calls to an executor on another node (a child process on the same
/// 2 cores): pipelined calls/s, one-at-a-time latency against a local
/// executor, and the agent loop with its tools there.
void remote(bool quick) {
  auto key = guardrail::approval_key::random();
  tool_node node{key};
  network_config cfg;
  caf::actor_system sys{cfg};
  // Joined as an engine joins: the node's tools through a tool router.
  engine_config ncfg;
  ncfg.cluster.seeds = {"127.0.0.1:" + std::to_string(node.port)};
  ncfg.cluster.roles = {"api", "planner", "memory"};
  auto member = cluster_node::start(sys, ncfg.cluster, ncfg.timeouts);
  if (!member) {
    std::fprintf(stderr, "cluster: %s\n", sys.render(member.error()).c_str());
    return;
  }
  engine_options routed;
  (*member)->route(routed);
  if (!(*member)->wait_for_routes(std::chrono::seconds{10}).empty()) {
    std::fprintf(stderr, "cannot reach the node\n");
    return;
  }
  auto remote = &routed.tools;
  size_t n = quick ? 20'000 : 200'000;
  auto [ok, wall] = pipelined(sys, *remote, approvals(key, "calculator", n), 256);
  print_calls("remote_calls", n, ok, 256, wall);
  // One call at a time: the same calculator call local and remote.
  size_t steps = quick ? 2'000 : 20'000;
  auto local = spawn_executor(sys, key, {});
  auto near = bench::summarize(
    stepwise(sys, local, approvals(key, "calculator", steps), 1));
  auto far = bench::summarize(
    stepwise(sys, *remote, approvals(key, "calculator", steps), 1));
  double ping_us = 0;
  for (auto& p : (*member)->view()->snapshot())
    if (p.state == "up")
      ping_us = p.rtt_us;
  print_figure("{\"scenario\":\"remote_latency\",\"calls\":%zu,"
               "\"local_p50_us\":%.1f,\"local_p99_us\":%.1f,"
               "\"remote_p50_us\":%.1f,\"remote_p99_us\":%.1f,"
               "\"added_p50_us\":%.1f,\"added_p99_us\":%.1f,"
               "\"ping_rtt_us\":%.1f}\n",
               steps, near.p50, near.p99, far.p50, far.p99,
               far.p50 - near.p50, far.p99 - near.p99, ping_us);
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  // The 3-step agent loop (offline model, one calculator step), 200 tasks
  // in flight, with the executor local and on the node.
  size_t tasks = quick ? 2'000 : 20'000;
  auto loop = [&](const char* scenario, bool on_node) {
    engine_config ecfg;
    ecfg.access.principals["bench"] = "admin";
    ecfg.memory.long_term = false;
    engine_options opts;
    opts.approval_key = key;
    // The engine takes the router over (and stops it): this runs last.
    if (on_node)
      opts.tools = *remote;
    auto eng = engine::start(sys, ecfg, std::move(opts));
    if (!eng) {
      std::fprintf(stderr, "engine: %s\n", sys.render(eng.error()).c_str());
      return;
    }
    auto tasks_actor = (*eng)->tasks();
    auto r = bench::closed_loop(
      sys,
      {.total = tasks, .clients = 1, .per_client = 200,
       .record_latencies = false},
      [&](caf::event_based_actor* self, size_t i, auto done) {
        self
          ->request(tasks_actor, caf::infinite, run_atom::value,
                    task_request{0, "s" + std::to_string(i % 100), "bench",
                                 "What is " + std::to_string(i) + " + 1?"})
          .then(
            [=](task_result& res) {
              done(res.status == task_status::completed);
            },
            [=](caf::error&) { done(false); });
      });
    print_figure("{\"scenario\":\"%s\",\"tasks\":%zu,\"ok\":%zu,"
                 "\"wall_ms\":%.1f,\"tasks_per_s\":%.0f}\n",
                 scenario, tasks, r.ok, r.wall_ms,
                 static_cast<double>(tasks) / (r.wall_ms / 1000));
  };
  loop("loop_local_tools", false);
  loop("loop_remote_tools", true);
}

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string_view a{argv[i]};
    if (a == "--quick")
      quick = true;
    else
      only = a;
  }
  auto want = [&](std::string_view name) {
    return only.empty() || name.rfind(only, 0) == 0;
  };
  log::set_level("off");
  size_t n = quick ? 100'000 : 1'000'000;
  if (want("trivial_calls_immediate"))
    trivial_calls("trivial_calls_immediate", tools::run_mode::immediate, n,
                  256);
  if (want("trivial_calls_pool"))
    trivial_calls("trivial_calls_pool", tools::run_mode::blocking, n / 4, 256);
  size_t steps = quick ? 2'000 : 20'000;
  if (want("fan_out_immediate"))
    fan_out_overhead("fan_out_immediate", tools::run_mode::immediate, steps);
  if (want("fan_out_pool"))
    fan_out_overhead("fan_out_pool", tools::run_mode::blocking, steps);
  if (want("remote"))
    remote(quick);
  if (want("mcp_echo")) {
    mcp_echo(quick ? 2'000 : 20'000, 64);
    mcp_echo(quick ? 500 : 2'000, 1);
  }
  return 0;
}
