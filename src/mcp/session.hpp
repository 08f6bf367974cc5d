#pragma once

// The MCP client's protocol session: the JSON-RPC 2.0 side of one server
// (initialize, tools/list with its pages and list_changed, tools/call with
// deadlines and cancellation, the server's own requests) with no I/O, no
// thread, no process and no clock. Lines from the server's stdout and the
// time come in; lines for its stdin, completions and events go out.
// `server` runs one over a process's pipes; tests drive one directly.
// CAF-free.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/errc.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "core/result.hpp"
#include "mcp/settings.hpp"
#include "tools/tool.hpp"

namespace troupe::mcp {

/// Completions with their outcomes, run by the owner once no lock is held
/// and no state is in flux.
using deliveries = std::vector<std::pair<tools::completion, result<json>>>;

/// A tools/call as the engine asked for it.
struct call_request {
  /// The tool's MCP name (sent) and the engine's name of it (the prefix of
  /// every failure message).
  std::string tool;
  std::string engine_name;
  json args;
  std::chrono::steady_clock::time_point deadline =
    std::chrono::steady_clock::time_point::max();
  std::shared_ptr<tools::cancellation> cancel;
  tools::completion done;
};

/// What a session tells its owner, in the order it happened.
namespace event {

/// The server answered initialize with a version troupe speaks.
struct initialized {
  std::string protocol_version;
  std::string server_name;
  std::string server_version;
};

/// A whole tool list came in: the first since `start` (`first`: the
/// server is ready now) or a later one (after list_changed).
struct listed {
  std::vector<tools::entry> tools;
  bool first = false;
};

/// The start went wrong (`why` follows the server's name, e.g. "did not
/// answer initialize within 200 ms"); `permanent`: do not restart it. The
/// owner ends the process and feeds no more of its lines.
struct start_fault {
  std::string why;
  bool permanent = false;
};

/// A line from the server was dropped (the owner counts and logs it).
struct garbage {
  std::string why;
  std::string line;
};

/// The number of tools/call requests in flight changed (or may have).
struct in_flight {
  size_t calls = 0;
};

} // namespace event

using session_event =
  std::variant<event::initialized, event::listed, event::start_fault,
               event::garbage, event::in_flight>;

/// What a session produced since the last `take`.
struct session_output {
  std::vector<session_event> events;
  deliveries done;
};

/// What a session needs of its owner. Both run inside the session's calls.
struct session_hooks {
  /// Queues `line` (one message, without its newline) for the server's
  /// stdin; fails saying why if it cannot take it now (stdin closed, queue
  /// full), e.g. "MCP server 'x' closed its stdin".
  std::function<result<bool>(std::string line)> write;
  /// The body of the engine's entry for MCP tool `mcp_name` (it calls back
  /// into whoever runs the session).
  std::function<tools::async_function(const std::string& mcp_name)> tool_body;
};

/// The protocol state of one MCP server across its processes: request ids
/// keep counting and late answers to abandoned requests stay recognised
/// over restarts. Not thread-safe: one owner drives it.
class session {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;

  /// `cfg` gives the server's name, the permissions and timeout of its
  /// tools, the call timeout and the start timeout.
  session(server_config cfg, session_hooks hooks);

  /// A process started: sends initialize, due within `start_timeout_ms`.
  /// Requires the previous process (if any) to be `close`d.
  void start(time_point now);

  /// Handles one line of the server's stdout (without its newline).
  void feed(const std::string& line, time_point now);

  /// Sends a tools/call, or fails `c` at once: cancelled, deadline passed
  /// (its own or `call_timeout_ms`), not `ready`, or refused by `write`.
  void call(call_request c, time_point now);

  /// Fails calls whose deadline passed or that were cancelled (telling the
  /// server with notifications/cancelled, and ignoring their late
  /// answers), and a start or a relist that takes too long.
  void expire(time_point now);

  /// The process is gone: fails every call in flight with `code` and
  /// "<engine name>: <why>" and forgets the other requests.
  void close(errc code, const std::string& why);

  /// Between `start` and the first whole tool list.
  bool starting() const noexcept {
    return phase_ == phase::starting;
  }

  /// The first tool list is in; calls go through.
  bool ready() const noexcept {
    return phase_ == phase::ready;
  }

  /// The earliest deadline of a request in flight (and of the start while
  /// `starting`); max() if none.
  time_point next_deadline() const;

  /// The cancellation flags of the calls in flight (owned by them: valid
  /// until the next call of a non-const member).
  std::vector<const tools::cancellation*> cancels() const;

  /// tools/call requests sent and not answered yet.
  size_t in_flight() const;

  /// Returns and clears what the session produced.
  session_output take();

private:
  enum class phase : uint8_t { closed, starting, ready };
  enum class request_kind : uint8_t { initialize, list, call };

  /// A request sent and not answered yet.
  struct pending {
    request_kind kind = request_kind::call;
    time_point sent;
    time_point deadline;
    call_request call;
  };

  std::string who() const;
  void emit(session_event x);
  void fail(call_request c, errc code, const std::string& why);
  void send(const json& msg);
  /// Sends a request and awaits its answer until `deadline`; `call`
  /// (moved from only if sent) for a tools/call. Returns its id, or why
  /// `write` refused it.
  result<uint64_t> send_request(request_kind kind, std::string_view method,
                                json params, time_point now,
                                time_point deadline,
                                call_request* call = nullptr);
  /// Gives up on request `id` on our side: the server is told, and a late
  /// answer is ignored.
  void abandon(uint64_t id, std::string_view reason);
  void handle_line(const std::string& line, time_point now);
  void on_request(const json& id, const std::string& method);
  void on_notification(const std::string& method, time_point now);
  void on_response(const json& id, const json& msg, const std::string& line,
                   time_point now);
  void on_initialize(const json& msg, time_point now);
  void begin_list(time_point now, std::string cursor = {});
  void on_list(const json& msg, time_point now);
  std::vector<tools::entry> make_entries() const;
  void finish_call(call_request c, const json& msg);

  server_config cfg_;
  session_hooks hooks_;
  std::shared_ptr<spdlog::logger> logger_;
  phase phase_ = phase::closed;
  time_point start_deadline_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, pending> pendings_;
  /// Requests given up on (deadline, cancel) whose answers may still come:
  /// not garbage. Bounded, oldest forgotten first.
  std::set<uint64_t> abandoned_;
  std::deque<uint64_t> abandoned_order_;
  bool listing_ = false;
  /// A list_changed came while listing: list again once done.
  bool list_again_ = false;
  size_t list_pages_ = 0;
  std::vector<json> listed_;
  session_output out_;
};

} // namespace troupe::mcp
