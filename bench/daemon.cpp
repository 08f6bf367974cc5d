/// bench/daemon: `troupe serve` under load, driven from outside as a client
/// would (the daemon is the real binary, started by the bench).
///
/// - `health`: GET /health with wrk (64 connections, one wrk thread):
///   requests/s and latency percentiles.
/// - `submit`: POST /v1/tasks with wrk (Lua script), the journal on and
///   durable (every acknowledgement after an fsync'd group commit): accepted
///   tasks/s. The accepted tasks run meanwhile (offline planner).
/// - `submit_postgres`: the same with the journal in PostgreSQL (a server
///   the bench starts: initdb in a temporary directory, a free port, as
///   user postgres when run as root; fsync and synchronous_commit on, as
///   a production server has them), if PostgreSQL is installed.
/// - `failover`: two replicas on one PostgreSQL database; 100 tasks stall
///   on replica A (its planner never answers), A is killed (SIGKILL), and
///   the time until B has taken all of them over (target: within the
///   lease, 10 s, plus 1 s) and until they have all completed.
/// - `sse`: 10,000 concurrent GET /v1/tasks/{id}/events streams on a task
///   that never ends (its planner stalls): how many are held open, the
///   daemon's resident memory per stream, and the time to open them all.
///
/// - `soak` (only with `--soak [SECONDS]`, default 180): durable
///   submissions at full load for that long, SQLite then PostgreSQL, with
///   retention on (`max_tasks` 20,000, looked at every 5 s): the store's
///   size on disk and the daemon's resident memory, sampled twelve times —
///   they level off instead of growing with the tasks.
///
/// Usage: daemon [--quick | --soak [SECONDS]]. One JSON line per scenario
/// (per sample for the soak). Needs wrk
/// (scripts/setup installs it) and a file-descriptor limit above 10,000.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/http.hpp"
#include "support/output.hpp"
#include "support/process.hpp"
#include "support/timing.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;
using troupe::bench::print_figure;

constexpr const char* api_key = "bench-key-0123456789";

/// The daemon as a child process.
struct daemon_proc {
  troupe::bench::child_process proc;
  uint16_t port = 0;

  daemon_proc(const fs::path& dir, const std::string& extra_config) {
    fs::create_directories(dir);
    std::ofstream{dir / "troupe.json"}
      << R"({"access": {"principals": {"cli": "admin", "bench": "admin"}},
             "serve": {"listen": "127.0.0.1:0", "rate_limit": 0,
                       "max_connections": 15000}, )"
      << extra_config << "}";
    proc = troupe::bench::child_process::start(
      {TROUPE_CLI_PATH, "serve", "--config", (dir / "troupe.json").string(),
       "--data-dir", (dir / "data").string()},
      {std::string{"TROUPE_API_KEYS=bench:"} + api_key});
    auto line = proc.read_line();
    auto colon = line.rfind(':');
    if (line.find("serving on") == std::string::npos || colon == std::string::npos) {
      std::fprintf(stderr, "daemon did not start: %s\n", line.c_str());
      std::exit(1);
    }
    port = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  }

  /// Resident memory in bytes.
  uint64_t rss() const {
    return proc.resident_bytes();
  }
};

std::string run(const std::string& cmd) {
  std::string out;
  if (auto* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
      out.append(buf, n);
    pclose(p);
  }
  return out;
}

/// A wrk latency figure ("1.23ms", "850.00us", "1.02s") in milliseconds.
double wrk_ms(const std::string& s) {
  double v = std::stod(s);
  if (s.find("us") != std::string::npos)
    return v / 1000;
  if (s.find("ms") != std::string::npos)
    return v;
  if (s.find('s') != std::string::npos)
    return v * 1000;
  return v;
}

struct wrk_figures {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t requests = 0;
  uint64_t non_2xx = 0;
};

/// The first whitespace-separated word after `label` in `out`.
std::optional<std::string> word_after(const std::string& out, const std::string& label) {
  auto at = out.find(label);
  if (at == std::string::npos)
    return std::nullopt;
  auto from = out.find_first_not_of(" \t", at + label.size());
  if (from == std::string::npos)
    return std::nullopt;
  auto to = out.find_first_of(" \t\r\n", from);
  return out.substr(from, to - from);
}

wrk_figures parse_wrk(const std::string& out) {
  wrk_figures f;
  if (auto v = word_after(out, "Requests/sec:"))
    f.rps = std::stod(*v);
  if (auto v = word_after(out, " 50%"))
    f.p50_ms = wrk_ms(*v);
  if (auto v = word_after(out, " 99%"))
    f.p99_ms = wrk_ms(*v);
  // "  123456 requests in 10.00s, …"
  if (auto at = out.find(" requests in "); at != std::string::npos) {
    auto from = out.find_last_not_of("0123456789", at - 1) + 1;
    f.requests = std::stoull(out.substr(from, at - from));
  }
  if (auto v = word_after(out, "Non-2xx or 3xx responses:"))
    f.non_2xx = std::stoull(*v);
  return f;
}

/// A throwaway PostgreSQL server, stopped and removed when it goes; `dsn`
/// is "" if it could not start (the reason went to stderr).
struct pg_server {
  fs::path dir;
  std::string dsn;
  std::string bin;

  explicit pg_server(fs::path d) : dir(std::move(d)) {
    for (auto& v : {"17", "16", "15"})
      if (fs::exists(std::string{"/usr/lib/postgresql/"} + v + "/bin/initdb")) {
        bin = std::string{"/usr/lib/postgresql/"} + v + "/bin/";
        break;
      }
    if (bin.empty()) {
      std::fprintf(stderr, "no PostgreSQL server installed: submit_postgres skipped\n");
      return;
    }
    fs::create_directories(dir);
    auto as = std::string{geteuid() == 0 ? "runuser -u postgres -- " : ""};
    if (geteuid() == 0)
      run("chown postgres " + dir.string());
    // A free port: bind to 0 and let go.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    auto port = std::to_string(ntohs(addr.sin_port));
    close(fd);
    auto out = run(as + bin + "initdb -D " + dir.string() + "/data -U troupe -A trust -E UTF8 --locale=C 2>&1 && " +
                   as + bin + "pg_ctl -D " + dir.string() + "/data -l " + dir.string() +
                   "/log -w -o '-p " + port + " -c listen_addresses=127.0.0.1 -k " + dir.string() +
                   " -c max_connections=100' start 2>&1; echo exit=$?");
    if (out.find("exit=0") == std::string::npos) {
      std::fprintf(stderr, "PostgreSQL did not start: %s\n", out.c_str());
      return;
    }
    dsn = "postgresql://troupe@127.0.0.1:" + port + "/postgres";
  }

  ~pg_server() {
    if (bin.empty())
      return;
    auto as = std::string{geteuid() == 0 ? "runuser -u postgres -- " : ""};
    run(as + bin + "pg_ctl -D " + dir.string() + "/data -m immediate stop >/dev/null 2>&1");
  }
};

/// `submit` against the daemon `d`: accepted tasks/s with `journal`
/// named in the figure.
void submit_scenario(const daemon_proc& d, const fs::path& dir,
                     const char* scenario, const char* duration) {
  auto url = "http://127.0.0.1:" + std::to_string(d.port);
  std::ofstream{dir / "post.lua"}
    << "wrk.method = \"POST\"\n"
       "wrk.body = '{\"input\": \"What is 17 * 23 + 4?\"}'\n"
       "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
       "wrk.headers[\"Authorization\"] = \"Bearer " << api_key << "\"\n";
  auto submit = parse_wrk(run(std::string{"wrk -t1 -c64 -d"} + duration +
                              " --latency -s " + (dir / "post.lua").string() +
                              " " + url + "/v1/tasks 2>&1"));
  print_figure("{\"scenario\":\"%s\",\"connections\":64,\"journal\":\"durable\","
               "\"accepted\":%llu,\"accepted_per_s\":%.0f,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"non_2xx\":%llu}\n",
               scenario,
               static_cast<unsigned long long>(submit.requests - submit.non_2xx),
               submit.rps * (submit.requests ? static_cast<double>(submit.requests - submit.non_2xx) / static_cast<double>(submit.requests) : 0),
               submit.p50_ms, submit.p99_ms,
               static_cast<unsigned long long>(submit.non_2xx));
}

/// The sum of the values of `d`'s metric lines starting with `prefix` and
/// containing `label` ("" for any).
double metric_sum(const daemon_proc& d, const std::string& prefix,
                  const std::string& label = {}) {
  auto text = troupe::bench::http_exchange(
    d.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  double sum = 0;
  size_t at = 0;
  while ((at = text.find("\n" + prefix, at)) != std::string::npos) {
    auto end = text.find('\n', at + 1);
    auto line = text.substr(at + 1, end - at - 1);
    at = end;
    if (!label.empty() && line.find(label) == std::string::npos)
      continue;
    if (auto space = line.rfind(' '); space != std::string::npos)
      sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

/// POSTs a task to `d`; false if it was not accepted.
bool submit_one(const daemon_proc& d, const std::string& input) {
  auto body = R"({"input": ")" + input + R"("})";
  auto posted = troupe::bench::http_exchange(
    d.port, "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              std::string{api_key} +
              "\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
              body);
  return posted.rfind("HTTP/1.1 202", 0) == 0;
}

/// `failover`: see the top of the file.
void failover_scenario(const fs::path& dir, int64_t lease_ms) {
  pg_server pg{dir / "pg-failover"};
  if (pg.dsn.empty())
    return;
  auto store = R"("log_level": "off", "store": {"backend": "postgres", "lease_ms": )" +
               std::to_string(lease_ms) + R"(, "postgres": {"dsn": ")" + pg.dsn + R"("}})";
  daemon_proc a{dir / "fa", store + R"(, "faults": {"planner": {"mode": "stall", "rate": 1}})"};
  daemon_proc b{dir / "fb", store};
  constexpr int tasks = 100;
  for (int i = 0; i < tasks; ++i)
    if (!submit_one(a, "What is " + std::to_string(i) + " + 1?")) {
      std::fprintf(stderr, "failover: replica A refused a task\n");
      return;
    }
  auto t0 = clock_type::now();
  kill(a.proc.pid(), SIGKILL);
  double taken_s = -1;
  double done_s = -1;
  auto deadline = t0 + std::chrono::milliseconds{lease_ms * 3 + 30000};
  while (clock_type::now() < deadline && done_s < 0) {
    if (taken_s < 0 &&
        metric_sum(b, "troupe_task_leases_total", "taken_over") >= tasks)
      taken_s = troupe::bench::seconds_since(t0);
    if (taken_s >= 0 &&
        metric_sum(b, "agent_requests_total{", "status=\"completed\"") >= tasks)
      done_s = troupe::bench::seconds_since(t0);
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  print_figure("{\"scenario\":\"failover\",\"tasks\":%d,\"lease_ms\":%lld,"
               "\"taken_over_s\":%.2f,\"all_completed_s\":%.2f,"
               "\"target_s\":%.1f}\n",
               tasks, static_cast<long long>(lease_ms), taken_s, done_s,
               static_cast<double>(lease_ms) / 1000 + 1);
}

/// The store's size on disk, as `troupe store --json` says (-1: unknown).
double store_bytes(const fs::path& dir, const std::string& config) {
  std::ofstream{dir / "store.json"} << "{" << config << "}";
  auto out = run(std::string{TROUPE_CLI_PATH} + " store --json --config " +
                 (dir / "store.json").string() + " --data-dir " +
                 (dir / "data").string() + " 2>/dev/null");
  if (auto v = word_after(out, "\"bytes\":"))
    return std::stod(*v);
  return -1;
}

/// `soak`: see the top of the file.
void soak_scenario(const fs::path& dir, int seconds) {
  pg_server pg{dir / "pg-soak"};
  for (std::string backend : {"sqlite", "postgres"}) {
    if (backend == "postgres" && pg.dsn.empty())
      continue;
    auto store = R"("store": {"backend": ")" + backend +
                 R"(", "retention": {"max_tasks": 20000, "max_age_hours": 0, "every_ms": 5000})" +
                 (backend == "postgres" ? R"(, "postgres": {"dsn": ")" + pg.dsn + R"("})" : "") + "}";
    auto where = dir / ("soak-" + backend);
    daemon_proc d{where, R"("log_level": "off", )" + store};
    std::ofstream{dir / "post.lua"}
      << "wrk.method = \"POST\"\n"
         "wrk.body = '{\"input\": \"What is 17 * 23 + 4?\"}'\n"
         "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
         "wrk.headers[\"Authorization\"] = \"Bearer " << api_key << "\"\n";
    auto url = "http://127.0.0.1:" + std::to_string(d.port);
    std::string wrk_out;
    std::thread load{[&] {
      wrk_out = run("wrk -t1 -c64 -d" + std::to_string(seconds) + "s -s " +
                    (dir / "post.lua").string() + " " + url + "/v1/tasks 2>&1");
    }};
    auto t0 = clock_type::now();
    for (int i = 1; i <= 12; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds{
                                           int64_t{seconds} * 1000 * i / 12});
      // (-0.0 MB: `troupe store` could not say this time.)
      print_figure("{\"scenario\":\"soak\",\"backend\":\"%s\",\"t_s\":%.0f,"
                   "\"store_mb\":%.1f,\"rss_mb\":%.1f,\"pruned\":%.0f,"
                   "\"completed\":%.0f}\n",
                   backend.c_str(), troupe::bench::seconds_since(t0),
                   store_bytes(where, store) / 1e6,
                   static_cast<double>(d.rss()) / 1e6,
                   metric_sum(d, "troupe_store_pruned_total"),
                   metric_sum(d, "agent_requests_total{", "status=\"completed\""));
    }
    load.join();
    auto w = parse_wrk(wrk_out);
    print_figure("{\"scenario\":\"soak\",\"backend\":\"%s\",\"seconds\":%d,"
                 "\"accepted_per_s\":%.0f,\"non_2xx\":%llu}\n",
                 backend.c_str(), seconds, w.rps,
                 static_cast<unsigned long long>(w.non_2xx));
  }
}

int connect_local(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  return fd;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string{argv[1]} == "--quick";
  troupe::bench::raise_fd_limit(); // the daemon inherits it
  auto dir = fs::temp_directory_path() / ("troupe-bench-daemon-" + std::to_string(getpid()));
  fs::remove_all(dir);
  if (argc > 1 && std::string{argv[1]} == "--soak") {
    soak_scenario(dir, argc > 2 ? std::stoi(argv[2]) : 180);
    fs::remove_all(dir);
    return 0;
  }
  auto duration = quick ? "2s" : "10s";
  {
    daemon_proc d{dir / "a", R"("log_level": "off")"};
    auto url = "http://127.0.0.1:" + std::to_string(d.port);
    auto health = parse_wrk(run(std::string{"wrk -t1 -c64 -d"} + duration +
                                " --latency " + url + "/health 2>&1"));
    print_figure("{\"scenario\":\"health\",\"connections\":64,\"requests\":%llu,"
                 "\"req_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"non_2xx\":%llu}\n",
                 static_cast<unsigned long long>(health.requests), health.rps,
                 health.p50_ms, health.p99_ms,
                 static_cast<unsigned long long>(health.non_2xx));
    submit_scenario(d, dir, "submit", duration);
  }
  {
    pg_server pg{dir / "pg"};
    if (!pg.dsn.empty()) {
      daemon_proc d{dir / "p", R"("log_level": "off", "store": {"backend": "postgres", "postgres": {"dsn": ")" +
                                 pg.dsn + R"("}})"};
      submit_scenario(d, dir, "submit_postgres", duration);
    }
  }
  failover_scenario(dir, 10000);
  {
    daemon_proc d{dir / "b", R"("log_level": "off", "faults": {"planner": {"mode": "stall", "rate": 1}})"};
    auto body = std::string{R"({"input": "What is 1 + 1?"})"};
    auto posted = troupe::bench::http_exchange(d.port, "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                    std::string{api_key} +
                                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                                    std::to_string(body.size()) +
                                    "\r\nConnection: close\r\n\r\n" + body);
    auto id_at = posted.find("\"id\":");
    if (id_at == std::string::npos) {
      std::fprintf(stderr, "could not submit the task: %s\n", posted.c_str());
      return 1;
    }
    auto id = std::stoull(posted.substr(id_at + 5));
    size_t target = quick ? 2000 : 10000;
    auto before = d.rss();
    auto req = "GET /v1/tasks/" + std::to_string(id) +
               "/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
               std::string{api_key} + "\r\n\r\n";
    int ep = epoll_create1(0);
    std::vector<int> fds;
    std::vector<std::string> got(target);
    auto t0 = clock_type::now();
    for (size_t i = 0; i < target; ++i) {
      int fd = connect_local(d.port);
      if (fd < 0)
        break;
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u64 = fds.size();
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      fds.push_back(fd);
    }
    std::vector<bool> sent(fds.size()), open(fds.size());
    size_t opened = 0;
    auto deadline = clock_type::now() + std::chrono::seconds{60};
    std::vector<epoll_event> events(1024);
    while (opened < fds.size() && clock_type::now() < deadline) {
      int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
      for (int k = 0; k < n; ++k) {
        auto i = events[k].data.u64;
        int fd = fds[i];
        if (!sent[i] && (events[k].events & EPOLLOUT)) {
          if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
            sent[i] = true;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
          }
        }
        if (events[k].events & EPOLLIN) {
          char buf[2048];
          auto r = read(fd, buf, sizeof(buf));
          if (r > 0) {
            got[i].append(buf, static_cast<size_t>(r));
            if (!open[i] && got[i].find("\r\n\r\n") != std::string::npos &&
                got[i].rfind("HTTP/1.1 200", 0) == 0) {
              open[i] = true;
              ++opened;
            }
          }
        }
      }
    }
    auto secs = troupe::bench::seconds_since(t0);
    auto after = d.rss();
    // Are they still held? The daemon's own gauge says.
    auto metrics = troupe::bench::http_exchange(d.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    long held = -1;
    if (auto v = word_after(metrics, "\ntroupe_http_event_streams_open"))
      held = std::stol(*v);
    print_figure("{\"scenario\":\"sse\",\"target\":%zu,\"opened\":%zu,\"held_by_daemon\":%ld,"
                 "\"open_s\":%.2f,\"rss_before_mb\":%.1f,\"rss_after_mb\":%.1f,"
                 "\"bytes_per_stream\":%.0f}\n",
                 target, opened, held, secs, static_cast<double>(before) / 1e6,
                 static_cast<double>(after) / 1e6,
                 opened ? static_cast<double>(after - before) / static_cast<double>(opened) : 0.0);
    for (int fd : fds)
      close(fd);
    close(ep);
  }
  fs::remove_all(dir);
  return 0;
}
