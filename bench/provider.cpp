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
#include <caf/scoped_actor.hpp>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <queue>
#include <thread>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "actors/engine.hpp"
#include "actors/http_provider.hpp"
#include "core/log.hpp"
#include "http/server.hpp"

namespace {

using namespace troupe;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

uint64_t rss_bytes() {
  std::ifstream in{"/proc/self/statm"};
  uint64_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[static_cast<size_t>(p * static_cast<double>(xs.size() - 1))];
}

/// The model API: asks for the calculator, then answers with its result;
/// each answer after `delay` (one timer thread holds the waiting replies).
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
  uint16_t port = (*srv)->port();
  if (write(port_fd, &port, sizeof(port)) != sizeof(port))
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
  pid_t pid = -1;
  uint16_t port = 0;

  explicit child_server(std::chrono::milliseconds delay) {
    int fds[2];
    if (pipe(fds) != 0)
      std::abort();
    pid = fork();
    if (pid == 0) {
      // Dies with the bench, even when the bench is killed.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(fds[0]);
      serve_model(fds[1], delay);
    }
    close(fds[1]);
    if (read(fds[0], &port, sizeof(port)) != sizeof(port))
      std::abort();
    close(fds[0]);
  }

  ~child_server() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
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

/// Runs `total` jobs, `clients` actors each keeping `per_client` in flight;
/// `job(self, done)` starts one and calls done(latency_ms) when it ends.
template <class Job>
std::vector<double> closed_loop(caf::actor_system& sys, size_t total,
                                size_t clients, size_t per_client, Job job) {
  std::mutex m;
  std::vector<double> all;
  std::atomic<size_t> started{0};
  std::atomic<size_t> finished_clients{0};
  std::promise<void> done;
  for (size_t c = 0; c < clients; ++c)
    sys.spawn([&](caf::event_based_actor* self) {
      auto lat = std::make_shared<std::vector<double>>();
      auto open = std::make_shared<size_t>(0);
      auto next = std::make_shared<std::function<void()>>();
      *next = [=, &m, &all, &started, &finished_clients, &done] {
        while (*open < per_client) {
          if (started.fetch_add(1) >= total) {
            if (*open == 0) {
              {
                std::lock_guard guard{m};
                all.insert(all.end(), lat->begin(), lat->end());
              }
              if (finished_clients.fetch_add(1) + 1 == clients)
                done.set_value();
              self->quit();
              *next = nullptr; // break the cycle
            }
            return;
          }
          ++*open;
          auto t0 = clock_type::now();
          job(self, [=](bool ok) {
            if (ok)
              lat->push_back(std::chrono::duration<double, std::milli>(
                               clock_type::now() - t0).count());
            --*open;
            if (*next)
              (*next)();
          });
        }
      };
      (*next)();
    });
  done.get_future().wait();
  return all;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string{argv[1]} == "--quick";
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
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
      auto before = rss_bytes();
      std::thread sampler{[&] {
        while (sampling) {
          peak = std::max<uint64_t>(peak, rss_bytes());
          std::this_thread::sleep_for(std::chrono::milliseconds{5});
        }
      }};
      auto t0 = clock_type::now();
      std::atomic<size_t> errors{0};
      auto lat = closed_loop(sys, n, 100, n / 100, [&](caf::event_based_actor* self, auto done) {
        self->request(provider, caf::infinite, complete_atom::value, req)
          .then([done](chat_response&) { done(true); },
                [done, &errors](caf::error&) { ++errors; done(false); });
      });
      auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
      sampling = false;
      sampler.join();
      std::vector<double> added;
      for (auto x : lat)
        added.push_back(x - 50.0);
      std::printf("{\"scenario\":\"%s\",\"calls\":%zu,\"in_flight\":%zu,\"model_latency_ms\":50,"
                  "\"calls_per_s\":%.0f,\"added_p50_ms\":%.2f,\"added_p99_ms\":%.2f,"
                  "\"errors\":%zu,\"rss_before_mb\":%.1f,\"rss_peak_mb\":%.1f,"
                  "\"bytes_per_call_in_flight\":%.0f}\n",
                  round, n, n, static_cast<double>(lat.size()) / secs, percentile(added, 0.5),
                  percentile(added, 0.99), errors.load(), static_cast<double>(before) / 1e6,
                  static_cast<double>(peak.load()) / 1e6,
                  static_cast<double>(peak.load() - std::min(peak.load(), before)) /
                    static_cast<double>(n));
      std::fflush(stdout);
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
      auto t0 = clock_type::now();
      auto lat = closed_loop(sys, tasks, 20, 10, [&](caf::event_based_actor* self, auto done) {
        self->request(tasks_handle, caf::infinite, run_atom::value,
                      task_request{0, "s", "bench", "What is 17 * 23 + 4?"})
          .then([done, &failed](task_result& r) {
                  if (r.status != task_status::completed)
                    ++failed;
                  done(true);
                },
                [done, &failed](caf::error&) { ++failed; done(false); });
      });
      auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
      rate[kind] = static_cast<double>(lat.size()) / secs;
      std::printf("{\"scenario\":\"loop\",\"provider\":\"%s\",\"tasks\":%zu,\"in_flight\":200,"
                  "\"tasks_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"failed\":%zu}\n",
                  kind.c_str(), tasks, rate[kind], percentile(lat, 0.5), percentile(lat, 0.99),
                  failed.load());
      std::fflush(stdout);
    }
    std::printf("{\"scenario\":\"loop_ratio\",\"offline_over_http\":%.2f}\n",
                rate["offline"] / rate["openai"]);
  }
  return 0;
}
