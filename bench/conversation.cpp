/// bench/conversation: conversation threads through `troupe serve` (the
/// real binary), driven over HTTP as a client would: 10,000 threads (1,000
/// with --quick), each a 3-turn conversation with the offline default
/// agent, 32 client threads each driving its share one turn after the
/// other (POST /v1/threads/{id}/runs, then the run's event stream to its
/// result). Figures: turns/s, the latency of a turn (POST to result) at
/// p50/p99, and what a stored turn costs in the journal (the bytes of its
/// messages, and the file's growth per turn).
///
/// Usage: conversation [--quick]. One JSON line.

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http.hpp"
#include "support/output.hpp"
#include "support/process.hpp"
#include "support/stats.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* api_key = "bench-key-0123456789";

/// One request on a fresh connection; the whole response (to the close).
std::string request(uint16_t port, const std::string& method,
                    const std::string& path, const std::string& body = {}) {
  auto bytes = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
               "Authorization: Bearer " + api_key + "\r\n" +
               "Connection: close\r\n";
  if (!body.empty())
    bytes += "Content-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n";
  return troupe::bench::http_exchange(port, bytes + "\r\n" + body);
}

/// The value of `"key":"…"` or `"key":123` in `text`, as a string.
std::string field(const std::string& text, const std::string& key) {
  auto at = text.find("\"" + key + "\":");
  if (at == std::string::npos)
    return {};
  at += key.size() + 3;
  if (text[at] == '"') {
    auto end = text.find('"', at + 1);
    return text.substr(at + 1, end - at - 1);
  }
  auto end = text.find_first_of(",}", at);
  return text.substr(at, end - at);
}

uint64_t file_bytes(const fs::path& dir) {
  uint64_t n = 0;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("tasks.db", 0) == 0)
      n += e.file_size();
  return n;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string{argv[1]} == "--quick";
  size_t threads = quick ? 1000 : 10000;
  constexpr size_t turns = 3;
  constexpr size_t clients = 32;
  troupe::bench::raise_fd_limit();
  auto dir = fs::temp_directory_path() /
             ("troupe-bench-conversation-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream{dir / "troupe.json"}
    << R"({"access": {"principals": {"cli": "admin", "bench": "admin"}},
           "serve": {"listen": "127.0.0.1:0", "rate_limit": 0},
           "log_level": "off"})";
  auto proc = troupe::bench::child_process::start(
    {TROUPE_CLI_PATH, "serve", "--config", (dir / "troupe.json").string(),
     "--data-dir", (dir / "data").string()},
    {std::string{"TROUPE_API_KEYS=bench:"} + api_key});
  auto line = proc.read_line();
  auto colon = line.rfind(':');
  if (line.find("serving on") == std::string::npos || colon == std::string::npos) {
    std::fprintf(stderr, "daemon did not start: %s\n", line.c_str());
    return 1;
  }
  auto port = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  auto before = file_bytes(dir / "data");
  std::atomic<size_t> next{0};
  std::atomic<size_t> failed{0};
  std::mutex mtx;
  std::vector<double> latencies;
  auto start = clock_type::now();
  std::vector<std::thread> workers;
  for (size_t c = 0; c < clients; ++c)
    workers.emplace_back([&] {
      std::vector<double> mine;
      for (size_t i; (i = next.fetch_add(1)) < threads;) {
        auto created = request(port, "POST", "/v1/threads", "{}");
        auto id = field(created, "id");
        if (id.empty()) {
          ++failed;
          continue;
        }
        for (size_t t = 0; t < turns; ++t) {
          auto t0 = clock_type::now();
          auto body = std::string{"{\"input\": \"What is "} +
                      std::to_string(i) + " + " + std::to_string(t) + "?\"}";
          auto posted = request(port, "POST", "/v1/threads/" + id + "/runs", body);
          auto run = field(posted, "id");
          auto events = run.empty() ? std::string{}
                                    : request(port, "GET",
                                              "/v1/tasks/" + run + "/events");
          if (events.find("\"status\":\"completed\"") == std::string::npos) {
            if (failed++ == 0)
              std::fprintf(stderr, "a turn failed: %s\n%s\n",
                           posted.substr(0, 300).c_str(),
                           events.substr(0, 300).c_str());
            break;
          }
          mine.push_back(std::chrono::duration<double, std::milli>(
                           clock_type::now() - t0)
                           .count());
        }
      }
      std::lock_guard guard{mtx};
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  for (auto& w : workers)
    w.join();
  auto wall_s =
    std::chrono::duration<double>(clock_type::now() - start).count();
  // Stopped (SIGTERM: it drains, closes the journal and exits), then read.
  ::kill(proc.pid(), SIGTERM);
  for (int i = 0; i < 100 && ::kill(proc.pid(), 0) == 0; ++i) {
    int status = 0;
    if (waitpid(proc.pid(), &status, WNOHANG) == proc.pid())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  // The stored turns, read from the journal once the daemon is gone.
  uint64_t message_bytes = 0;
  uint64_t messages = 0;
  {
    SQLite::Database db{(dir / "data" / "tasks.db").string(),
                        SQLite::OPEN_READONLY};
    SQLite::Statement q{db, "SELECT COUNT(*), COALESCE(SUM(LENGTH(message)), 0) "
                            "FROM thread_messages"};
    q.executeStep();
    messages = static_cast<uint64_t>(q.getColumn(0).getInt64());
    message_bytes = static_cast<uint64_t>(q.getColumn(1).getInt64());
  }
  auto stored = latencies.size();
  auto grown = file_bytes(dir / "data") - before;
  auto s = troupe::bench::summarize(latencies);
  troupe::bench::print_figure(
    "{\"scenario\":\"threads\",\"threads\":%zu,\"turns_per_thread\":%zu,"
    "\"clients\":%zu,\"turns\":%zu,\"failed\":%zu,\"turns_per_s\":%.0f,"
    "\"turn_p50_ms\":%.2f,\"turn_p99_ms\":%.2f,\"messages_per_turn\":%.1f,"
    "\"message_bytes_per_turn\":%.0f,\"journal_bytes_per_turn\":%.0f}\n",
    threads, turns, clients, stored, failed.load(),
    static_cast<double>(stored) / wall_s, s.p50, s.p99,
    stored ? static_cast<double>(messages) / static_cast<double>(stored) : 0.0,
    stored ? static_cast<double>(message_bytes) / static_cast<double>(stored) : 0.0,
    stored ? static_cast<double>(grown) / static_cast<double>(stored) : 0.0);
  fs::remove_all(dir);
  return failed.load() == 0 ? 0 : 1;
}
