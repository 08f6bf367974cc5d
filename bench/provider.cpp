/// bench/provider: the HTTP model provider under load, against a local
/// OpenAI-compatible server in a child process (so the figures are the
/// client's own).
///
/// - `calls_cold`, `calls_warm`: 10,000 model calls in flight at once
///   through one provider actor, first on new connections, then on the
///   reused ones; the server answers each after 50 ms. Calls/s, latency added over
///   the 50 ms (p50/p99), and the client's resident memory per call in
///   flight (peak minus before).
/// - `loop`: the 3-step agent loop (model → calculator → model) through the
///   HTTP provider with a server that answers at once, vs. the same loop on
///   the offline planner: tasks/s with 200 in flight, and the ratio.
///
/// Usage: provider [--quick]. One JSON line per scenario.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "actors/engine.hpp"
#include "actors/http_provider.hpp"
#include "core/log.hpp"
#include "http/server.hpp"
#include "support/load.hpp"
#include "support/output.hpp"
#include "support/process.hpp"
#include "support/stats.hpp"

namespace {

using namespace troupe;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;
using bench::print_figure;

/// The model API: asks for the calculator, then answers with its result;
/// each answer after `delay` (one timer thread holds the waiting replies).
/// Writes its port as a line to `port_fd` once it listens.
[[noreturn]] void serve_model(int port_fd, std::chrono::milliseconds delay) {
  std::mutex m;
  std::condition_variable cv;
  using due = std::pair<clock_type::time_point, std::pair<std::shared_ptr<http::reply>, std::string>>;
  auto later = [](const due& a, const due& b) { return a.first > b.first; };
  std::priority_queue<due, std::vector<due>, decltype(later)> queue{later};
  http::server_config cfg;
  cfg.port = 0;
  cfg.max_connections = 15000;
  cfg.io_threads = 2;
  auto srv = http::server::start(cfg, [&](http::request req, std::shared_ptr<http::reply> rep) {
    auto body = json::parse(req.body, nullptr, false);
    json msg{{"role", "assistant"}};
    auto& last = body["messages"].back();
    if (last["role"] == "tool") {
      msg["content"] = "The answer is " + last["content"].get<std::string>();
    } else {
      msg["content"] = nullptr;
      msg["tool_calls"] = json::array({{{"id", "call_1"}, {"type", "function"},
        {"function", {{"name", "calculator"}, {"arguments", R"({"expression":"17 * 23 + 4"})"}}}}});
    }
    auto text = json{{"choices", json::array({{{"index", 0}, {"message", msg}}})},
                     {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}}}}.dump();
    if (delay.count() == 0)
      return rep->send({200, "application/json", std::move(text), {}});
    std::lock_guard guard{m};
    queue.push({clock_type::now() + delay, {std::move(rep), std::move(text)}});
    cv.notify_one();
  });
  if (!srv)
    std::_Exit(1);
  auto port_line = std::to_string((*srv)->port()) + "\n";
  if (write(port_fd, port_line.data(), port_line.size()) !=
      static_cast<ssize_t>(port_line.size()))
    std::_Exit(1);
  std::unique_lock lock{m};
  for (;;) {
    if (queue.empty()) {
      cv.wait(lock);
      continue;
    }
    auto when = queue.top().first;
    if (clock_type::now() < when) {
      cv.wait_until(lock, when);
      continue;
    }
    auto item = queue.top();
    queue.pop();
    lock.unlock();
    item.second.first->send({200, "application/json", std::move(item.second.second), {}});
    lock.lock();
  }
}

/// A model server in a child process; killed on destruction.
struct child_server {
  bench::child_process proc;
  uint16_t port = 0;

  explicit child_server(std::chrono::milliseconds delay)
    : proc(bench::child_process::fork(
        [delay](int fd) { serve_model(fd, delay); })) {
    auto line = proc.read_line();
    if (line.empty()) {
      std::fprintf(stderr, "provider: the model server did not start\n");
      std::exit(1);
    }
    port = static_cast<uint16_t>(std::stoi(line));
  }
};

llm::provider_config http_settings(uint16_t port) {
  llm::provider_config p;
  p.kind = "openai";
  p.model = "bench";
  p.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  p.api_key_env = "";
  p.stream = false;
  p.max_concurrency = 20000;
  p.timeout = std::chrono::seconds{60};
  return p;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string{argv[1]} == "--quick";
  bench::raise_fd_limit();
  log::set_level("off");
  {
    // -- calls: 10,000 in flight, 50 ms model latency -----------------------
    size_t n = quick ? 2000 : 10000;
    child_server server{std::chrono::milliseconds{50}};
    caf::actor_system_config cfg;
    register_types(cfg);
    caf::actor_system sys{cfg};
    auto client = std::make_shared<llm::http_client>();
    auto provider = sys.spawn(http_provider, std::string{"provider"},
                              http_settings(server.port), client, fault_spec{});
    chat_request req;
    req.messages = {{chat_role::user, "What is 17 * 23 + 4?", {}, {}}};
    // The first round opens the connections; the second reuses them.
    for (auto round : {"calls_cold", "calls_warm"}) {
      std::atomic<bool> sampling{true};
      std::atomic<uint64_t> peak{0};
      auto before = bench::resident_bytes();
      std::thread sampler{[&] {
        while (sampling) {
          peak = std::max<uint64_t>(peak, bench::resident_bytes());
          std::this_thread::sleep_for(std::chrono::milliseconds{5});
        }
      }};
      std::atomic<size_t> errors{0};
      auto r = bench::closed_loop(
        sys, {.total = n, .clients = 100, .per_client = n / 100},
        [&](caf::event_based_actor* self, size_t, auto done) {
          self->request(provider, caf::infinite, complete_atom::value, req)
            .then([done](chat_response&) { done(true); },
                  [done, &errors](caf::error&) { ++errors; done(false); });
        });
      auto secs = r.wall_ms / 1000;
      sampling = false;
      sampler.join();
      std::vector<double> added;
      for (auto x : r.latencies_ms)
        added.push_back(x - 50.0);
      auto a = bench::summarize(std::move(added));
      print_figure("{\"scenario\":\"%s\",\"calls\":%zu,\"in_flight\":%zu,\"model_latency_ms\":50,"
                   "\"calls_per_s\":%.0f,\"added_p50_ms\":%.2f,\"added_p99_ms\":%.2f,"
                   "\"errors\":%zu,\"rss_before_mb\":%.1f,\"rss_peak_mb\":%.1f,"
                   "\"bytes_per_call_in_flight\":%.0f}\n",
                   round, n, n, static_cast<double>(r.latencies_ms.size()) / secs, a.p50,
                   a.p99, errors.load(), static_cast<double>(before) / 1e6,
                   static_cast<double>(peak.load()) / 1e6,
                   static_cast<double>(peak.load() - std::min(peak.load(), before)) /
                     static_cast<double>(n));
    }
    caf::anon_send_exit(provider, caf::exit_reason::user_shutdown);
  }
  {
    // -- loop: HTTP provider vs offline planner, 200 tasks in flight --------
    size_t tasks = quick ? 2000 : 10000;
    child_server server{std::chrono::milliseconds{0}};
    std::map<std::string, double> rate;
    for (std::string kind : {"offline", "openai"}) {
      caf::actor_system_config cfg;
      register_types(cfg);
      caf::actor_system sys{cfg};
      auto ecfg = engine_config{};
      ecfg.access.principals["bench"] = "admin";
      ecfg.memory.long_term = false;
      if (kind == "openai")
        static_cast<llm::provider_config&>(ecfg.provider) =
          http_settings(server.port);
      auto eng = engine::start(sys, ecfg);
      if (!eng) {
        std::fprintf(stderr, "engine: %s\n", describe(eng.error()).c_str());
        return 1;
      }
      auto tasks_handle = (*eng)->tasks();
      std::atomic<size_t> failed{0};
      auto r = bench::closed_loop(
        sys, {.total = tasks, .clients = 20, .per_client = 10},
        [&](caf::event_based_actor* self, size_t, auto done) {
          self->request(tasks_handle, caf::infinite, run_atom::value,
                        task_request{0, "s", "bench", "What is 17 * 23 + 4?"})
            .then([done, &failed](task_result& res) {
                    if (res.status != task_status::completed)
                      ++failed;
                    done(true);
                  },
                  [done, &failed](caf::error&) { ++failed; done(false); });
        });
      auto secs = r.wall_ms / 1000;
      rate[kind] = static_cast<double>(r.latencies_ms.size()) / secs;
      auto lat = bench::summarize(std::move(r.latencies_ms));
      print_figure("{\"scenario\":\"loop\",\"provider\":\"%s\",\"tasks\":%zu,\"in_flight\":200,"
                   "\"tasks_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"failed\":%zu}\n",
                   kind.c_str(), tasks, rate[kind], lat.p50, lat.p99,
                   failed.load());
    }
    print_figure("{\"scenario\":\"loop_ratio\",\"offline_over_http\":%.2f}\n",
                 rate["offline"] / rate["openai"]);
  }
  return 0;
}
