#include "mcp/server.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "mcp/process.hpp"
#include "mcp/wire.hpp"

namespace troupe::mcp {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view supported_versions[] = {"2025-11-25", "2025-06-18",
                                                   "2025-03-26", "2024-11-05"};

/// Longest stderr line logged (the rest is cut).
constexpr size_t max_stderr_line = 4096;

/// Responses to calls given up on (deadline, cancel) that may still
/// arrive: remembered so they are not counted as garbage.
constexpr size_t max_abandoned = 1024;

/// Most tools/list pages followed (a server whose cursors never end).
constexpr size_t max_list_pages = 100;

bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

uint32_t fnv1a(std::string_view x) noexcept {
  uint32_t h = 2166136261u;
  for (unsigned char c : x) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string cut(std::string_view x, size_t n) {
  if (x.size() <= n)
    return std::string{x};
  return std::string{x.substr(0, n)} + "…";
}

/// Lets `burst` events a `period` through and counts the rest, so a
/// misbehaving server cannot flood the log.
struct rate_limit {
  clock_type::duration period;
  uint64_t burst;
  clock_type::time_point window{};
  uint64_t seen = 0;

  /// True if this event may be logged; `held_back` gets how many the
  /// window that just ended suppressed.
  bool allow(uint64_t& held_back) {
    auto now = clock_type::now();
    held_back = 0;
    if (now - window >= period) {
      held_back = seen > burst ? seen - burst : 0;
      window = now;
      seen = 0;
    }
    return ++seen <= burst;
  }
};

/// Reads what `fd` has (non-blocking) into `sink`; false on EOF or error.
template <class Sink>
bool read_available(int fd, Sink&& sink) {
  char chunk[65536];
  for (;;) {
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      sink(std::string_view{chunk, static_cast<size_t>(n)});
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

/// Consumes a SIGPIPE that a write to a closed pipe left pending on this
/// thread (which blocks it).
void clear_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  timespec zero{};
  while (::sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
}

/// A call on its way to the server, or waiting for its answer.
struct call_state {
  /// The tool's MCP name and the engine's name of it (in messages).
  std::string tool;
  std::string engine_name;
  json args;
  clock_type::time_point deadline;
  std::shared_ptr<tools::cancellation> cancel;
  tools::completion done;
};

enum class request_kind : uint8_t { initialize, list, call };

/// A request sent and not answered yet.
struct pending {
  request_kind kind = request_kind::call;
  clock_type::time_point sent;
  clock_type::time_point deadline;
  call_state call;
};

/// Outcomes to deliver once no lock is held and no state is in flux.
using deliveries = std::vector<std::pair<tools::completion, result<json>>>;

void deliver(deliveries& xs) {
  for (auto& [done, res] : xs) {
    // A completion that throws is the caller's bug; it must not end the
    // I/O thread (and with it the engine).
    try {
      done(std::move(res));
    } catch (const std::exception& e) {
      log::get()->error(R"("event":"mcp_completion_threw","error":{})",
                        log::quote(e.what()));
    }
  }
  xs.clear();
}

} // namespace

bool supported_version(std::string_view version) noexcept {
  return std::find(std::begin(supported_versions), std::end(supported_versions),
                   version) != std::end(supported_versions);
}

std::string tool_name(std::string_view server, std::string_view tool) {
  std::string full;
  full.reserve(server.size() + 2 + tool.size());
  full.append(server).append("__").append(tool);
  std::string out = full;
  for (auto& c : out)
    if (!name_char(c))
      c = '_';
  if (out.size() > 64) {
    char hash[9];
    std::snprintf(hash, sizeof hash, "%08x", fnv1a(full));
    out.resize(55);
    out += "_";
    out += hash;
  }
  return out;
}

std::string_view to_string(server_state x) noexcept {
  switch (x) {
    case server_state::starting:
      return "starting";
    case server_state::ready:
      return "ready";
    case server_state::restarting:
      return "restarting";
    case server_state::failed:
      return "failed";
    case server_state::stopped:
      return "stopped";
  }
  return "unknown";
}

struct server::impl : std::enable_shared_from_this<impl> {
  server_config cfg;
  tools_fn on_tools;
  std::shared_ptr<spdlog::logger> logger = log::get();

  // -- shared with callers, under `mutex` -----------------------------------
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  server_status st;
  bool listed_once = false;
  /// When the next start is due (state `restarting`).
  clock_type::time_point restart_at;
  /// How the process last went down, e.g. "was killed by signal 9 (Killed)".
  std::string down_reason;
  std::vector<call_state> incoming;
  bool stopping = false;
  int wake_fd = -1;
  std::thread thread;

  // -- owned by the I/O thread ----------------------------------------------
  process proc;
  bool out_eof = false;
  bool exited = false;
  line_reader out_lines;
  line_reader err_lines;
  std::string in_buf;
  size_t in_off = 0;
  uint64_t next_id = 1;
  std::map<uint64_t, pending> pendings;
  std::set<uint64_t> abandoned;
  std::deque<uint64_t> abandoned_order;
  server_state state = server_state::starting;
  bool started_once = false;
  clock_type::time_point ready_at;
  clock_type::time_point start_deadline;
  uint32_t backoff = 0;
  bool listing = false;
  bool list_again = false;
  size_t list_pages = 0;
  std::vector<json> listed;
  std::string last_stderr;
  /// A start that went wrong while a line was handled: acted on once the
  /// line is done (the process must not vanish under the reader).
  std::optional<std::pair<std::string, bool>> start_fault;
  rate_limit garbage_log{std::chrono::seconds{10}, 5};
  rate_limit stderr_log{std::chrono::seconds{1}, 20};
  deliveries outbox;

  impl(server_config c, tools_fn f)
    : cfg(std::move(c)), on_tools(std::move(f)),
      backoff(cfg.restart_initial_ms) {
    st.name = cfg.name;
  }

  ~impl() {
    if (wake_fd >= 0)
      ::close(wake_fd);
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  /// Updates the status and wakes whoever waits on it.
  template <class F>
  void publish(F&& f) {
    {
      std::lock_guard guard{mutex};
      f(st);
    }
    changed.notify_all();
  }

  std::string who() const {
    return "MCP server '" + cfg.name + "'";
  }

  /// Why a call cannot go through now; requires `mutex`.
  std::string unavailable_locked() const {
    switch (st.state) {
      case server_state::restarting: {
        auto left =
          std::chrono::ceil<milliseconds>(restart_at - clock_type::now())
            .count();
        return who() + " is restarting after it " + down_reason +
               "; next attempt in " +
               std::to_string(std::max<int64_t>(0, left)) + " ms";
      }
      case server_state::starting:
        return who() + " is starting (restart " + std::to_string(st.restarts) +
               (down_reason.empty() ? "" : ", after it " + down_reason) +
               "); not ready for calls yet";
      case server_state::failed:
        return st.last_error;
      case server_state::stopped:
        return who() + " is shut down";
      case server_state::ready:
        break;
    }
    return who() + " is ready";
  }

  // -- callers' side ----------------------------------------------------------

  void submit(const std::string& tool, const json& args,
              const tools::context& ctx, tools::completion done) {
    auto engine_name = tool_name(cfg.name, tool);
    std::unique_lock guard{mutex};
    if (st.state != server_state::ready || stopping) {
      auto why = stopping ? who() + " is shutting down" : unavailable_locked();
      guard.unlock();
      done(failure{errc::tool_failed, engine_name + ": " + why});
      return;
    }
    incoming.push_back({tool, std::move(engine_name), args, ctx.deadline,
                        ctx.cancel, std::move(done)});
    guard.unlock();
    wake();
  }

  // -- I/O thread
  // ---------------------------------------------------------------

  void run() {
    // A write to a server that died raises SIGPIPE on this thread: block it
    // here and consume it (clear_sigpipe), so it never ends the engine.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    start();
    std::vector<pollfd> fds;
    for (;;) {
      std::vector<call_state> fresh;
      bool stop = false;
      {
        std::lock_guard guard{mutex};
        fresh.swap(incoming);
        stop = stopping;
      }
      if (stop) {
        shut_down(std::move(fresh));
        return;
      }
      for (auto& c : fresh)
        dispatch(std::move(c));
      expire();
      act_on_faults();
      if (state == server_state::restarting && clock_type::now() >= restart_at)
        start();
      deliver(outbox);
      fds.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      fds.push_back({in_off < in_buf.size() ? proc.in_fd() : -1, POLLOUT, 0});
      fds.push_back({proc.out_fd(), POLLIN, 0});
      fds.push_back({proc.err_fd(), POLLIN, 0});
      fds.push_back({proc.exit_fd(), POLLIN, 0});
      for (auto& [id, p] : pendings)
        if (p.kind == request_kind::call && p.call.cancel)
          fds.push_back({p.call.cancel->fd(), POLLIN, 0});
      auto n = ::poll(fds.data(), fds.size(), poll_timeout());
      if (n < 0)
        continue; // EINTR
      if (fds[0].revents != 0) {
        uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
      }
      if (fds[1].revents != 0)
        flush();
      if (fds[2].revents != 0)
        read_stdout();
      if (fds[3].revents != 0)
        read_stderr();
      if (fds[4].revents != 0)
        exited = true;
      if (proc.pid() > 0 && proc.exit_fd() < 0 && !exited && proc.try_reap())
        exited = true;
      act_on_faults();
      if (proc.pid() > 0 && (out_eof || exited))
        went_down();
      deliver(outbox);
    }
  }

  /// Milliseconds until the earliest deadline, timer or check.
  int poll_timeout() const {
    auto until = clock_type::time_point::max();
    for (auto& [id, p] : pendings)
      until = std::min(until, p.deadline);
    if (state == server_state::restarting)
      until = std::min(until, restart_at);
    if (state == server_state::starting)
      until = std::min(until, start_deadline);
    int cap = 60000;
    // Without a pidfd the exit is only seen by polling waitpid, and without
    // an eventfd a cancel only by polling its flag.
    if (proc.pid() > 0 && proc.exit_fd() < 0)
      cap = 50;
    for (auto& [id, p] : pendings)
      if (p.kind == request_kind::call && p.call.cancel &&
          p.call.cancel->fd() < 0)
        cap = 50;
    if (until == clock_type::time_point::max())
      return cap;
    auto left =
      std::chrono::ceil<milliseconds>(until - clock_type::now()).count();
    return static_cast<int>(std::clamp<int64_t>(left, 0, cap));
  }

  void start() {
    auto p = process::spawn(cfg.command, cfg.args, cfg.env);
    if (started_once)
      publish([](server_status& s) { ++s.restarts; });
    started_once = true;
    if (!p) {
      state = server_state::failed;
      auto msg = who() + ": " + p.error().message;
      logger->error(R"("event":"mcp_server_failed","server":{},"error":{})",
                    log::quote(cfg.name), log::quote(msg));
      publish([&](server_status& s) {
        s.state = state;
        s.pid = -1;
        s.last_error = msg;
      });
      return;
    }
    proc = std::move(*p);
    out_eof = false;
    exited = false;
    out_lines.clear();
    err_lines.clear();
    in_buf.clear();
    in_off = 0;
    last_stderr.clear();
    state = server_state::starting;
    start_deadline = clock_type::now() + milliseconds{cfg.start_timeout_ms};
    logger->info(R"("event":"mcp_server_started","server":{},"pid":{})",
                 log::quote(cfg.name), proc.pid());
    publish([&](server_status& s) {
      s.state = state;
      s.pid = proc.pid();
    });
    send_request(
      request_kind::initialize, "initialize",
      {{"protocolVersion", protocol_version},
       {"capabilities", json::object()},
       {"clientInfo", {{"name", "troupe"}, {"version", TROUPE_VERSION}}}},
      start_deadline);
  }

  /// Queues `msg` for the server's stdin; false if the queue is full (the
  /// server stopped reading) or stdin is gone.
  bool send(const json& msg) {
    if (proc.in_fd() < 0)
      return false;
    auto line = dump(msg);
    line += '\n';
    if (in_buf.size() - in_off + line.size() > cfg.max_line_bytes)
      return false;
    in_buf += line;
    flush();
    return true;
  }

  uint64_t send_request(request_kind kind, std::string_view method, json params,
                        clock_type::time_point deadline, call_state call = {}) {
    auto id = next_id++;
    json msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.is_null())
      msg["params"] = std::move(params);
    if (!send(msg))
      return 0;
    pendings.emplace(
      id, pending{kind, clock_type::now(), deadline, std::move(call)});
    return id;
  }

  void flush() {
    while (in_off < in_buf.size() && proc.in_fd() >= 0) {
      auto n =
        ::write(proc.in_fd(), in_buf.data() + in_off, in_buf.size() - in_off);
      if (n > 0) {
        in_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      // EPIPE: the server closed its stdin or died; its exit shows on
      // stdout or the pidfd.
      clear_sigpipe();
      proc.close_in();
      in_buf.clear();
      in_off = 0;
    }
    if (in_off == in_buf.size()) {
      in_buf.clear();
      in_off = 0;
    } else if (in_off > (1u << 20) && in_off > in_buf.size() / 2) {
      in_buf.erase(0, in_off);
      in_off = 0;
    }
  }

  void dispatch(call_state c) {
    auto now = clock_type::now();
    if (state != server_state::ready) {
      std::string why;
      {
        std::lock_guard guard{mutex};
        why = unavailable_locked();
      }
      return fail(std::move(c), errc::tool_failed, why);
    }
    if (c.cancel && c.cancel->cancelled())
      return fail(std::move(c), errc::cancelled, "the call was cancelled");
    auto deadline =
      std::min(c.deadline, now + milliseconds{cfg.call_timeout_ms});
    if (now >= deadline)
      return fail(std::move(c), errc::timeout,
                  "the call's deadline passed before it was sent");
    json params{{"name", c.tool},
                {"arguments", c.args.is_null() ? json::object() : c.args}};
    auto queued = in_buf.size() - in_off;
    auto engine_name = c.engine_name;
    auto done = c.done;
    if (send_request(request_kind::call, "tools/call", std::move(params),
                     deadline, std::move(c)) == 0) {
      auto why = proc.in_fd() < 0
                   ? who() + " closed its stdin"
                   : who() + " is not reading its input (" +
                       std::to_string(queued) +
                       " bytes queued) or the call is larger than "
                       "max_line_bytes (" +
                       std::to_string(cfg.max_line_bytes) + ")";
      outbox.emplace_back(std::move(done),
                          failure{errc::tool_failed, engine_name + ": " + why});
      return;
    }
    publish_in_flight();
  }

  void fail(call_state c, errc code, const std::string& why) {
    outbox.emplace_back(std::move(c.done),
                        failure{code, c.engine_name + ": " + why});
  }

  void publish_in_flight() {
    size_t calls = 0;
    for (auto& [id, p] : pendings)
      calls += p.kind == request_kind::call ? 1 : 0;
    publish([&](server_status& s) { s.in_flight = calls; });
  }

  /// Gives up on request `id` on our side: the server is told, and a late
  /// answer is ignored.
  void abandon(uint64_t id, std::string_view reason) {
    send({{"jsonrpc", "2.0"},
          {"method", "notifications/cancelled"},
          {"params", {{"requestId", id}, {"reason", reason}}}});
    abandoned.insert(id);
    abandoned_order.push_back(id);
    if (abandoned_order.size() > max_abandoned) {
      abandoned.erase(abandoned_order.front());
      abandoned_order.pop_front();
    }
  }

  /// Fails calls whose deadline passed or that were cancelled, and a start
  /// that takes too long.
  void expire() {
    auto now = clock_type::now();
    bool changed_calls = false;
    for (auto it = pendings.begin(); it != pendings.end();) {
      auto& p = it->second;
      bool cancelled = p.kind == request_kind::call && p.call.cancel &&
                       p.call.cancel->cancelled();
      if (!cancelled && now < p.deadline) {
        ++it;
        continue;
      }
      auto id = it->first;
      auto kind = p.kind;
      auto waited =
        std::chrono::duration_cast<milliseconds>(now - p.sent).count();
      auto call = std::move(p.call);
      it = pendings.erase(it);
      // initialize must not be cancelled (MCP lifecycle): the process is
      // ended instead.
      if (kind != request_kind::initialize)
        abandon(id, cancelled ? "cancelled" : "timeout");
      if (kind == request_kind::call) {
        changed_calls = true;
        if (cancelled)
          fail(std::move(call), errc::cancelled, "the call was cancelled");
        else
          fail(std::move(call), errc::timeout,
               who() + " did not answer within " + std::to_string(waited) +
                 " ms");
      } else if (state == server_state::starting) {
        start_fault.emplace(
          "did not answer " +
            std::string{kind == request_kind::initialize ? "initialize"
                                                         : "tools/list"} +
            " within " + std::to_string(cfg.start_timeout_ms) + " ms",
          false);
      } else {
        listing = false;
        logger->warn(R"("event":"mcp_list_timeout","server":{})",
                     log::quote(cfg.name));
      }
    }
    if (changed_calls)
      publish_in_flight();
  }

  void read_stdout() {
    auto open = read_available(proc.out_fd(), [&](std::string_view chunk) {
      if (start_fault)
        return;
      out_lines.feed(
        chunk, cfg.max_line_bytes,
        [&](std::string line) {
          on_line(line);
          return !start_fault;
        },
        [&] {
          garbage("a line longer than max_line_bytes (" +
                    std::to_string(cfg.max_line_bytes) + ")",
                  {});
          return true;
        });
    });
    if (!open) {
      out_eof = true;
      proc.close_out();
    }
  }

  void read_stderr() {
    auto open = read_available(proc.err_fd(), [&](std::string_view chunk) {
      err_lines.feed(
        chunk, max_stderr_line,
        [&](std::string line) {
          on_stderr(line);
          return true;
        },
        [&] {
          on_stderr("(a stderr line longer than " +
                    std::to_string(max_stderr_line) + " bytes, dropped)");
          return true;
        });
    });
    if (!open)
      proc.close_err();
  }

  void on_stderr(const std::string& line) {
    // stderr is the server's log, never an error in itself (MCP stdio).
    last_stderr = cut(line, 512);
    uint64_t held_back = 0;
    if (stderr_log.allow(held_back))
      logger->info(R"("event":"mcp_stderr","server":{},"line":{})",
                   log::quote(cfg.name), log::quote(line));
    if (held_back > 0)
      logger->info(R"("event":"mcp_stderr_suppressed","server":{},"lines":{})",
                   log::quote(cfg.name), held_back);
  }

  void garbage(const std::string& why, std::string_view line) {
    publish([](server_status& s) { ++s.garbage_lines; });
    uint64_t held_back = 0;
    if (garbage_log.allow(held_back))
      logger->warn(R"("event":"mcp_garbage","server":{},"reason":{},"line":{})",
                   log::quote(cfg.name), log::quote(why),
                   log::quote(cut(line, 200)));
    if (held_back > 0)
      logger->warn(R"("event":"mcp_garbage_suppressed","server":{},"lines":{})",
                   log::quote(cfg.name), held_back);
  }

  void on_line(const std::string& line) {
    // Belt and braces: no message may end the I/O thread, whatever its
    // shape (the handlers check types, so this should never fire).
    try {
      handle_line(line);
    } catch (const std::exception& e) {
      garbage(std::string{"a message that could not be handled: "} + e.what(),
              line);
    }
  }

  void handle_line(const std::string& line) {
    if (line.find_first_not_of(" \t") == std::string::npos)
      return;
    if (too_deep(line, 64))
      return garbage("nested deeper than 64 levels", line);
    auto msg = json::parse(line, nullptr, false);
    if (msg.is_discarded())
      return garbage("not JSON", line);
    if (!msg.is_object() || msg.value("jsonrpc", json{}) != "2.0")
      return garbage("not a JSON-RPC 2.0 message", line);
    auto method = msg.find("method");
    auto id = msg.find("id");
    if (method != msg.end() && method->is_string()) {
      if (id != msg.end() && !id->is_null())
        return on_request(*id, method->get<std::string>());
      return on_notification(method->get<std::string>());
    }
    if (id != msg.end() && (msg.contains("result") || msg.contains("error")))
      return on_response(*id, msg, line);
    garbage("neither request, notification nor response", line);
  }

  /// Requests from the server: only ping is supported.
  void on_request(const json& id, const std::string& method) {
    logger->debug(R"("event":"mcp_server_request","server":{},"method":{})",
                  log::quote(cfg.name), log::quote(method));
    if (method == "ping") {
      send({{"jsonrpc", "2.0"}, {"id", id}, {"result", json::object()}});
      return;
    }
    send({{"jsonrpc", "2.0"},
          {"id", id},
          {"error", {{"code", -32601}, {"message", "Method not found"}}}});
  }

  void on_notification(const std::string& method) {
    if (method == "notifications/tools/list_changed") {
      if (listing)
        list_again = true;
      else if (state == server_state::ready)
        begin_list();
      return;
    }
    logger->debug(R"("event":"mcp_notification","server":{},"method":{})",
                  log::quote(cfg.name), log::quote(method));
  }

  void on_response(const json& id_value, const json& msg,
                   const std::string& line) {
    uint64_t id = 0;
    if (id_value.is_number_unsigned())
      id = id_value.get<uint64_t>();
    else if (id_value.is_number_integer() && id_value.get<int64_t>() > 0)
      id = static_cast<uint64_t>(id_value.get<int64_t>());
    auto it = pendings.find(id);
    if (it == pendings.end()) {
      if (abandoned.count(id) == 0)
        garbage("a response to an unknown id", line);
      return;
    }
    auto p = std::move(it->second);
    pendings.erase(it);
    switch (p.kind) {
      case request_kind::initialize:
        return on_initialize(msg);
      case request_kind::list:
        return on_list(msg);
      case request_kind::call:
        publish_in_flight();
        return finish_call(std::move(p.call), msg);
    }
  }

  static std::string rpc_error(const json& msg) {
    auto& e = msg["error"];
    if (!e.is_object())
      return "MCP error: " + dump(e);
    auto code = e.find("code");
    auto message = string_at(e, "message");
    return "MCP error " +
           (code != e.end() && code->is_number() ? dump(*code) : "(no code)") +
           ": " + (message.empty() ? "(no message)" : message);
  }

  void on_initialize(const json& msg) {
    if (msg.contains("error")) {
      start_fault.emplace("refused initialize: " + rpc_error(msg), false);
      return;
    }
    auto& res = msg["result"];
    auto version =
      res.is_object() ? res.value("protocolVersion", json{}) : json{};
    if (!version.is_string() ||
        !supported_version(version.get<std::string>())) {
      start_fault.emplace(
        "answered initialize with protocolVersion " +
          (version.is_string() ? log::quote(version.get<std::string>())
                               : std::string{version.type_name()}) +
          ", which troupe does not support (it speaks 2025-11-25, "
          "2025-06-18, 2025-03-26 and 2024-11-05)",
        true);
      return;
    }
    auto info = res.value("serverInfo", json{});
    publish([&](server_status& s) {
      s.protocol_version = version.get<std::string>();
      s.server_name = string_at(info, "name");
      s.server_version = string_at(info, "version");
    });
    send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
    begin_list();
  }

  void begin_list(std::string cursor = {}) {
    if (cursor.empty()) {
      listed.clear();
      list_pages = 0;
    }
    json params = nullptr;
    if (!cursor.empty())
      params = {{"cursor", cursor}};
    auto deadline = state == server_state::starting
                      ? start_deadline
                      : clock_type::now() + milliseconds{cfg.call_timeout_ms};
    listing = send_request(request_kind::list, "tools/list", std::move(params),
                           deadline) != 0;
  }

  void on_list(const json& msg) {
    auto& res = msg.contains("result") ? msg["result"] : msg["error"];
    if (!msg.contains("result") || !res.is_object() ||
        !res.value("tools", json{}).is_array()) {
      auto why = msg.contains("error") ? rpc_error(msg)
                                       : "a tools/list result without tools";
      listing = false;
      if (state == server_state::starting) {
        start_fault.emplace("answered tools/list with " + why, false);
        return;
      }
      logger->warn(R"("event":"mcp_list_failed","server":{},"error":{})",
                   log::quote(cfg.name), log::quote(why));
      return;
    }
    for (auto& t : res["tools"])
      listed.push_back(t);
    auto cursor = res.value("nextCursor", json{});
    if (cursor.is_string() && !cursor.get<std::string>().empty() &&
        ++list_pages < max_list_pages) {
      begin_list(cursor.get<std::string>());
      return;
    }
    listing = false;
    auto entries = make_entries();
    auto first = state == server_state::starting;
    if (first) {
      state = server_state::ready;
      ready_at = clock_type::now();
      logger->info(R"("event":"mcp_server_ready","server":{},"tools":{})",
                   log::quote(cfg.name), entries.size());
    }
    publish([&](server_status& s) {
      s.state = state;
      s.tools = entries.size();
    });
    if (on_tools) {
      try {
        on_tools(cfg.name, std::move(entries));
      } catch (const std::exception& e) {
        logger->error(
          R"("event":"mcp_tools_callback_threw","server":{},"error":{})",
          log::quote(cfg.name), log::quote(e.what()));
      }
    }
    // Only now: whoever waited for the tools has them.
    publish([&](server_status&) { listed_once = true; });
    if (list_again) {
      list_again = false;
      begin_list();
    }
  }

  std::vector<tools::entry> make_entries() {
    std::vector<tools::entry> out;
    std::set<std::string> seen;
    for (auto& t : listed) {
      auto name = t.is_object() ? t.value("name", json{}) : json{};
      if (!name.is_string() || name.get<std::string>().empty()) {
        logger->warn(
          R"("event":"mcp_tool_skipped","server":{},"reason":"no name")",
          log::quote(cfg.name));
        continue;
      }
      auto mcp_name = name.get<std::string>();
      tools::entry e;
      e.spec.name = tool_name(cfg.name, mcp_name);
      if (!seen.insert(e.spec.name).second) {
        logger->warn(
          R"("event":"mcp_tool_skipped","server":{},"tool":{},"reason":"its name clashes with another tool's once sanitised")",
          log::quote(cfg.name), log::quote(mcp_name));
        continue;
      }
      e.spec.description = string_at(t, "description");
      if (e.spec.description.empty())
        e.spec.description = string_at(t, "title");
      auto schema = t.value("inputSchema", json{});
      e.spec.parameters =
        schema.is_object() ? dump(schema) : std::string{R"({"type":"object"})"};
      auto hints = t.value("annotations", json::object());
      auto hint = [&](const char* key) {
        return hints.is_object() && hints.value(key, json{}) == true;
      };
      e.spec.idempotent = hint("readOnlyHint") || hint("idempotentHint");
      e.spec.permissions = cfg.permissions;
      e.spec.timeout_ms = cfg.call_timeout_ms;
      e.mode = tools::run_mode::async;
      e.async_fn = [weak = weak_from_this(), server = cfg.name,
                    mcp_name](const json& args, const tools::context& ctx,
                              tools::completion done) {
        if (auto self = weak.lock())
          self->submit(mcp_name, args, ctx, std::move(done));
        else
          done(failure{errc::tool_failed, tool_name(server, mcp_name) +
                                            ": MCP server '" + server +
                                            "' is shut down"});
      };
      out.push_back(std::move(e));
    }
    return out;
  }

  void finish_call(call_state c, const json& msg) {
    if (msg.contains("error"))
      return fail(std::move(c), errc::tool_failed, rpc_error(msg));
    auto& res = msg["result"];
    if (!res.is_object())
      return fail(std::move(c), errc::tool_failed,
                  who() + " sent a tools/call result that is not an object");
    auto content = res.value("content", json::array());
    if (res.value("isError", json{}) == true)
      return fail(std::move(c), errc::tool_failed, text_of(content));
    json out{{"content", content.is_array() ? content : json::array()}};
    if (res.contains("structuredContent"))
      out["structuredContent"] = res["structuredContent"];
    outbox.emplace_back(std::move(c.done), std::move(out));
  }

  /// A start that went wrong: permanent ones (unsupported version) leave
  /// the server failed, the rest restart it with backoff.
  void act_on_faults() {
    if (!start_fault)
      return;
    auto [why, permanent] = std::move(*start_fault);
    start_fault.reset();
    if (proc.pid() > 0) {
      // Misbehaving or gone: no grace period.
      proc.signal_group(SIGKILL);
      proc.wait_for(-1);
      proc = process{};
    }
    if (!permanent)
      return down(why);
    state = server_state::failed;
    auto msg = who() + " " + why;
    logger->error(R"("event":"mcp_server_failed","server":{},"error":{})",
                  log::quote(cfg.name), log::quote(msg));
    fail_pending(msg);
    publish([&](server_status& s) {
      s.state = state;
      s.pid = -1;
      s.last_error = msg;
      s.in_flight = 0;
    });
  }

  /// The process closed stdout or exited.
  void went_down() {
    // Answers it wrote before going are still good.
    if (proc.out_fd() >= 0)
      read_stdout();
    if (proc.err_fd() >= 0)
      read_stderr();
    // A server that closed stdout gets a moment to exit on its own.
    if (!proc.wait_for(exited ? 0 : 200)) {
      proc.signal_group(SIGKILL);
      proc.wait_for(-1);
    }
    if (start_fault) {
      // Its last words were a bad answer (e.g. an unsupported version).
      act_on_faults();
      return;
    }
    auto how = describe_exit(proc.status().value_or(0));
    proc = process{};
    down(how);
  }

  void fail_pending(const std::string& why) {
    for (auto& [id, p] : pendings)
      if (p.kind == request_kind::call)
        fail(std::move(p.call), errc::tool_failed, why);
    pendings.clear();
    listing = false;
    list_again = false;
  }

  /// Schedules a restart after the process went down `how`.
  void down(const std::string& how) {
    auto now = clock_type::now();
    if (state == server_state::ready &&
        now - ready_at >= milliseconds{cfg.restart_max_ms})
      backoff = cfg.restart_initial_ms; // it had been up for long: start over
    auto delay = backoff;
    backoff = static_cast<uint32_t>(
      std::min<uint64_t>(uint64_t{backoff} * 2, cfg.restart_max_ms));
    auto was_ready = state == server_state::ready;
    state = server_state::restarting;
    in_buf.clear();
    in_off = 0;
    auto msg = who() + " " + how;
    if (!was_ready && !last_stderr.empty())
      msg += " (its last stderr line: " + last_stderr + ")";
    logger->warn(
      R"("event":"mcp_server_down","server":{},"reason":{},"restart_in_ms":{})",
      log::quote(cfg.name), log::quote(msg), delay);
    fail_pending(msg + " while the call was in flight; restarting it in " +
                 std::to_string(delay) + " ms");
    {
      std::lock_guard guard{mutex};
      restart_at = now + milliseconds{delay};
      down_reason = how;
      st.state = state;
      st.pid = -1;
      st.last_error = msg;
      st.backoff_ms = delay;
      st.in_flight = 0;
    }
    changed.notify_all();
  }

  void shut_down(std::vector<call_state> fresh) {
    auto why = who() + " is shutting down";
    for (auto& c : fresh)
      fail(std::move(c), errc::cancelled, why);
    for (auto& [id, p] : pendings)
      if (p.kind == request_kind::call)
        fail(std::move(p.call), errc::cancelled, why);
    pendings.clear();
    deliver(outbox);
    if (proc.pid() > 0) {
      flush();
      auto how =
        describe_exit(proc.stop(static_cast<int>(cfg.stop_timeout_ms)));
      logger->info(R"("event":"mcp_server_stopped","server":{},"exit":{})",
                   log::quote(cfg.name), log::quote(how));
      proc = process{};
    }
    state = server_state::stopped;
    publish([&](server_status& s) {
      s.state = state;
      s.pid = -1;
      s.in_flight = 0;
    });
  }
};

server::server(server_config cfg, tools_fn on_tools)
  : impl_(std::make_shared<impl>(std::move(cfg), std::move(on_tools))) {
  if (auto ok = validate(impl_->cfg); !ok) {
    impl_->st.state = server_state::failed;
    impl_->st.last_error = ok.error().message;
    return;
  }
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wake_fd < 0) {
    impl_->st.state = server_state::failed;
    impl_->st.last_error = "MCP server '" + impl_->cfg.name +
                           "': cannot make an eventfd: " + std::strerror(errno);
    return;
  }
  impl_->thread = std::thread{[im = impl_.get()] { im->run(); }};
}

server::~server() {
  if (!impl_->thread.joinable())
    return;
  {
    std::lock_guard guard{impl_->mutex};
    impl_->stopping = true;
  }
  impl_->wake();
  impl_->thread.join();
}

server_status server::status() const {
  std::lock_guard guard{impl_->mutex};
  return impl_->st;
}

result<bool>
server::wait_ready(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock guard{impl_->mutex};
  auto settled = [&] {
    return impl_->listed_once || impl_->st.state == server_state::failed ||
           impl_->st.state == server_state::stopped;
  };
  if (deadline == clock_type::time_point::max())
    impl_->changed.wait(guard, settled);
  else
    impl_->changed.wait_until(guard, deadline, settled);
  if (impl_->listed_once)
    return true;
  auto& s = impl_->st;
  if (s.state == server_state::failed || s.state == server_state::stopped)
    return failure{errc::tool_failed, impl_->unavailable_locked()};
  return failure{
    errc::timeout,
    "MCP server '" + s.name + "' is not ready yet (" +
      std::string{to_string(s.state)} + ")" +
      (s.last_error.empty() ? "" : "; last error: " + s.last_error)};
}

void server::call(const std::string& tool, const json& args,
                  const tools::context& ctx, tools::completion done) {
  impl_->submit(tool, args, ctx, std::move(done));
}

} // namespace troupe::mcp
