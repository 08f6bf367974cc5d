#include "mcp/server.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "mcp/process.hpp"
#include "mcp/session.hpp"
#include "mcp/wire.hpp"

namespace troupe::mcp {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view supported_versions[] = {"2025-11-25", "2025-06-18",
                                                   "2025-03-26", "2024-11-05"};

/// Longest stderr line logged (the rest is cut).
constexpr size_t max_stderr_line = 4096;

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
  std::vector<call_request> incoming;
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
  /// The JSON-RPC side: requests, answers, tool lists.
  mcp::session session;
  server_state state = server_state::starting;
  bool started_once = false;
  clock_type::time_point ready_at;
  uint32_t backoff = 0;
  std::string last_stderr;
  /// A start that went wrong while a line was handled: acted on once the
  /// line is done (the process must not vanish under the reader).
  std::optional<std::pair<std::string, bool>> start_fault;
  rate_limit garbage_log{std::chrono::seconds{10}, 5};
  rate_limit stderr_log{std::chrono::seconds{1}, 20};
  deliveries outbox;

  impl(server_config c, tools_fn f)
    : cfg(std::move(c)), on_tools(std::move(f)),
      session(cfg, {[this](std::string line) { return send(std::move(line)); },
                    [this](const std::string& mcp_name) {
                      return tool_body(mcp_name);
                    }}),
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

  /// The body of the entry for MCP tool `mcp_name`: it holds the server
  /// weakly, so an entry that outlives it fails its calls instead.
  tools::async_function tool_body(const std::string& mcp_name) {
    return [weak = weak_from_this(), server = cfg.name,
            mcp_name](const json& args, const tools::context& ctx,
                      tools::completion done) {
      if (auto self = weak.lock())
        self->submit(mcp_name, args, ctx, std::move(done));
      else
        done(failure{errc::tool_failed, tool_name(server, mcp_name) +
                                          ": MCP server '" + server +
                                          "' is shut down"});
    };
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
      std::vector<call_request> fresh;
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
      session.expire(clock_type::now());
      absorb();
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
      auto cancels = session.cancels();
      for (auto* c : cancels)
        fds.push_back({c->fd(), POLLIN, 0});
      auto n = ::poll(fds.data(), fds.size(), poll_timeout(cancels));
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
  int poll_timeout(
    const std::vector<const tools::cancellation*>& cancels) const {
    // The session's include the start's while starting.
    auto until = session.next_deadline();
    if (state == server_state::restarting)
      until = std::min(until, restart_at);
    int cap = 60000;
    // Without a pidfd the exit is only seen by polling waitpid, and without
    // an eventfd a cancel only by polling its flag.
    if (proc.pid() > 0 && proc.exit_fd() < 0)
      cap = 50;
    for (auto* c : cancels)
      if (c->fd() < 0)
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
    logger->info(R"("event":"mcp_server_started","server":{},"pid":{})",
                 log::quote(cfg.name), proc.pid());
    publish([&](server_status& s) {
      s.state = state;
      s.pid = proc.pid();
    });
    session.start(clock_type::now());
    absorb();
  }

  /// Queues `line` for the server's stdin (the session's `write`); fails
  /// if the queue is full (the server stopped reading) or stdin is gone.
  result<bool> send(std::string line) {
    if (proc.in_fd() < 0)
      return failure{errc::tool_failed, who() + " closed its stdin"};
    line += '\n';
    auto queued = in_buf.size() - in_off;
    if (queued + line.size() > cfg.max_line_bytes)
      return failure{errc::tool_failed,
                     who() + " is not reading its input (" +
                       std::to_string(queued) +
                       " bytes queued) or the call is larger than "
                       "max_line_bytes (" +
                       std::to_string(cfg.max_line_bytes) + ")"};
    in_buf += line;
    flush();
    return true;
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

  /// Acts on what the session produced: its events now, its completions
  /// with the next `deliver`.
  void absorb() {
    auto out = session.take();
    for (auto& e : out.events) {
      if (auto* x = std::get_if<event::initialized>(&e)) {
        publish([&](server_status& s) {
          s.protocol_version = std::move(x->protocol_version);
          s.server_name = std::move(x->server_name);
          s.server_version = std::move(x->server_version);
        });
      } else if (auto* x = std::get_if<event::listed>(&e)) {
        listed(std::move(x->tools), x->first);
      } else if (auto* x = std::get_if<event::start_fault>(&e)) {
        start_fault.emplace(std::move(x->why), x->permanent);
      } else if (auto* x = std::get_if<event::garbage>(&e)) {
        garbage(x->why, x->line);
      } else if (auto* x = std::get_if<event::in_flight>(&e)) {
        publish([&](server_status& s) { s.in_flight = x->calls; });
      }
    }
    for (auto& d : out.done)
      outbox.push_back(std::move(d));
  }

  void dispatch(call_request c) {
    if (state != server_state::ready) {
      std::string why;
      {
        std::lock_guard guard{mutex};
        why = unavailable_locked();
      }
      return fail(std::move(c), errc::tool_failed, why);
    }
    session.call(std::move(c), clock_type::now());
    absorb();
  }

  void fail(call_request c, errc code, const std::string& why) {
    outbox.emplace_back(std::move(c.done),
                        failure{code, c.engine_name + ": " + why});
  }

  void read_stdout() {
    auto open = read_available(proc.out_fd(), [&](std::string_view chunk) {
      if (start_fault)
        return;
      out_lines.feed(
        chunk, cfg.max_line_bytes,
        [&](std::string line) {
          session.feed(line, clock_type::now());
          absorb();
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

  /// A whole tool list from the session: the first makes the server ready.
  void listed(std::vector<tools::entry> entries, bool first) {
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
    session.close(errc::tool_failed, msg);
    absorb();
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
    session.close(errc::tool_failed,
                  msg + " while the call was in flight; restarting it in " +
                    std::to_string(delay) + " ms");
    absorb();
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

  void shut_down(std::vector<call_request> fresh) {
    auto why = who() + " is shutting down";
    for (auto& c : fresh)
      fail(std::move(c), errc::cancelled, why);
    session.close(errc::cancelled, why);
    absorb();
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
