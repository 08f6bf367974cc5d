/// bench/streaming: what one token delta costs on its way from the model
/// to an SSE client, part by part, and the parts together.
///
/// - `filter`: guardrail::stream_filter::feed with the default output rules
///   (e-mail, phone, card, SSN, key patterns) on an answer's words: ns per
///   delta.
/// - `engine_hops`: the engine's two hops per delta, as actors: a provider
///   actor sends (token_atom, delta) to a runner-like actor, which filters
///   it (stream_filter) and sends (token_atom, task, delta) on to an
///   observer; deltas/s through both.
/// - `daemon_sse`: the daemon's part: service::on_token (the task's event
///   log, its buffer, the SSE text) into a real http::server stream, read
///   by a client socket on 127.0.0.1 until the last event: deltas/s and
///   µs per delta.
/// - `through`: the three in series, per delta (their costs added: each
///   runs on its own threads in the daemon, so this is the cost, not the
///   latency).
///
/// Target (issue 18): <= 2 µs per delta, >= 100k deltas/s on 2 cores.
/// Usage: streaming [--quick]. One JSON line per scenario.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"
#include "config/config.hpp"
#include "store/sqlite_journal.hpp"
#include "daemon/backend.hpp"
#include "daemon/service.hpp"
#include "guardrail/access.hpp"
#include "guardrail/stream_filter.hpp"
#include "http/server.hpp"
#include "llm/rule_based.hpp"
#include "support/output.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;
using namespace troupe;

constexpr const char* api_key = "bench-key-0123456789";

/// An answer's words, as a model streams them.
std::vector<std::string> words(size_t n) {
  auto pieces = llm::stream_pieces(
    "The report describes a scheduler that stalls when two jobs share a "
    "lock; the severity is high because every queue behind it waits, and "
    "the fix belongs in the component that hands out the locks.");
  std::vector<std::string> out;
  while (out.size() < n)
    for (auto& p : pieces)
      if (out.size() < n)
        out.push_back(p);
  return out;
}

std::shared_ptr<const guardrail::output_filter> rules() {
  auto f = guardrail::output_filter::make(guardrail::default_output_rules());
  if (!f) {
    std::fprintf(stderr, "%s\n", f.error().message.c_str());
    std::exit(1);
  }
  return *f;
}

double filter_ns(size_t n) {
  auto pieces = words(n);
  guardrail::stream_filter f{rules()};
  size_t out = 0;
  auto t0 = clock_type::now();
  for (auto& p : pieces)
    out += f.feed(p).size();
  out += f.flush().size();
  auto ns = std::chrono::duration<double, std::nano>(clock_type::now() - t0)
              .count();
  if (out == 0)
    std::exit(1);
  return ns / static_cast<double>(n);
}

/// A backend that runs nothing: the bench plays the engine.
class idle_backend : public daemon::backend {
public:
  std::promise<uint64_t> started;
  void run(task_request req) override {
    started.set_value(req.id);
  }
  void cancel(uint64_t, std::function<void(bool)> done) override {
    done(false);
  }
  void memory_call(tool_invocation, std::function<void(tool_result)>) override {
  }
  void counters(std::function<void(daemon::engine_counters)> done) override {
    done({});
  }
  std::string not_ready() const override {
    return {};
  }
  std::vector<tool_spec> tools() const override {
    return {};
  }
  std::vector<cluster::peer_status> peers() const override {
    return {};
  }
  std::map<std::string, size_t> routes() const override {
    return {};
  }
  std::shared_ptr<const agents::catalog> agents() const override {
    return nullptr;
  }
};

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    std::exit(1);
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  if (write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    std::exit(1);
}

/// service::on_token into a real SSE stream read by a client socket.
double daemon_deltas_per_s(size_t n, const fs::path& dir) {
  engine_config cfg;
  cfg.access.principals["bench"] = "admin";
  cfg.access.api_keys[guardrail::api_key_digest(api_key)] = "bench";
  cfg.serve.rate_limit = 0;
  auto jrnl = store::open_sqlite_journal(dir / "tasks.db", false);
  if (!jrnl)
    std::exit(1);
  auto svc = daemon::service::make(cfg, std::move(*jrnl));
  auto backend = std::make_unique<idle_backend>();
  auto started = backend->started.get_future();
  svc->attach(std::move(backend));
  http::server_config hcfg;
  hcfg.host = "127.0.0.1";
  hcfg.port = 0;
  auto srv = http::server::start(
    hcfg, [svc](http::request req, std::shared_ptr<http::reply> rep) {
      svc->handle(std::move(req), std::move(rep));
    });
  if (!srv)
    std::exit(1);
  auto port = (*srv)->port();
  {
    int fd = connect_to(port);
    std::string body = R"({"input": "stream"})";
    send_all(fd, "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   std::string{api_key} +
                   "\r\nContent-Type: application/json\r\nConnection: "
                   "close\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
    char buf[4096];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    close(fd);
  }
  auto id = started.get();
  int fd = connect_to(port);
  send_all(fd, "GET /v1/tasks/" + std::to_string(id) +
                 "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 api_key + "\r\n\r\n");
  // The client reads until the result event arrives.
  std::atomic<bool> got_all{false};
  std::thread reader{[&] {
    std::string tail;
    char buf[1 << 16];
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0) {
      tail.append(buf, static_cast<size_t>(r));
      if (tail.find("event: result") != std::string::npos)
        break;
      if (tail.size() > 64)
        tail.erase(0, tail.size() - 64);
    }
    got_all = true;
  }};
  // The stream is open once the service holds it: wait for the headers.
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  auto pieces = words(n);
  auto t0 = clock_type::now();
  for (auto& p : pieces)
    svc->on_token(id, p);
  task_result r;
  r.id = id;
  r.status = task_status::completed;
  r.answer = "done";
  svc->on_result(r);
  reader.join();
  auto s = std::chrono::duration<double>(clock_type::now() - t0).count();
  close(fd);
  svc->detach();
  srv->reset();
  svc->close();
  return got_all ? static_cast<double>(n) / s : 0;
}

/// Two actor hops per delta, the runner's filter between them.
double engine_deltas_per_s(size_t n) {
  caf::actor_system_config cfg;
  register_types(cfg);
  caf::actor_system sys{cfg};
  std::promise<void> done;
  auto observer = sys.spawn(
    [n, &done](caf::event_based_actor* self) -> caf::behavior {
      auto seen = std::make_shared<size_t>(0);
      return {[=, &done](token_atom, uint64_t, const std::string&) {
        if (++*seen == n) {
          done.set_value();
          self->quit();
        }
      }};
    });
  auto runner = sys.spawn([observer](caf::event_based_actor*) -> caf::behavior {
    auto f = std::make_shared<guardrail::stream_filter>(nullptr);
    return {[=](token_atom, std::string& piece) {
      caf::anon_send(observer, token_atom::value, uint64_t{1},
                     f->feed(piece));
    }};
  });
  auto pieces = words(n);
  auto t0 = clock_type::now();
  for (auto& p : pieces)
    caf::anon_send(runner, token_atom::value, p);
  done.get_future().wait();
  auto s = std::chrono::duration<double>(clock_type::now() - t0).count();
  caf::anon_send_exit(runner, caf::exit_reason::user_shutdown);
  return static_cast<double>(n) / s;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string{argv[1]} == "--quick";
  size_t n = quick ? 100'000 : 1'000'000;
  auto dir = fs::temp_directory_path() /
             ("troupe-bench-streaming-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto ns = filter_ns(n);
  bench::print_figure("{\"scenario\":\"filter\",\"deltas\":%zu,"
                      "\"ns_per_delta\":%.0f}\n",
                      n, ns);
  auto hops = engine_deltas_per_s(n);
  bench::print_figure("{\"scenario\":\"engine_hops\",\"deltas\":%zu,"
                      "\"deltas_per_s\":%.0f,\"us_per_delta\":%.3f}\n",
                      n, hops, 1e6 / hops);
  auto sse = daemon_deltas_per_s(n, dir);
  bench::print_figure("{\"scenario\":\"daemon_sse\",\"deltas\":%zu,"
                      "\"deltas_per_s\":%.0f,\"us_per_delta\":%.3f}\n",
                      n, sse, sse > 0 ? 1e6 / sse : 0.0);
  auto us = ns / 1000 + 1e6 / hops + (sse > 0 ? 1e6 / sse : 0.0);
  bench::print_figure("{\"scenario\":\"through\",\"us_per_delta\":%.3f,"
                      "\"deltas_per_s\":%.0f,\"target_us\":2,"
                      "\"target_deltas_per_s\":100000}\n",
                      us, 1e6 / us);
  fs::remove_all(dir);
  return 0;
}
