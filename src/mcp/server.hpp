#pragma once

// The MCP client (issue 5): one configured MCP server, started over stdio
// (one JSON-RPC 2.0 message per line) and supervised. It runs the
// initialize handshake, lists the server's tools (again after every
// notifications/tools/list_changed and every restart) and hands them to
// the engine as async tool entries named "<server>__<tool>"; calls go out
// as tools/call. A server that exits is restarted with exponential backoff;
// calls in flight then fail naming how it exited. CAF-free: one I/O thread
// per server (poll over its pipes, a wake eventfd and the calls'
// cancellation fds).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "mcp/settings.hpp"
#include "tools/tool.hpp"

namespace troupe::mcp {

/// The protocol version the client asks for.
inline constexpr std::string_view protocol_version = "2025-11-25";

/// Whether the client accepts `version` in a server's initialize answer
/// (2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05).
bool supported_version(std::string_view version) noexcept;

/// The engine's name of MCP tool `tool` of `server`: "<server>__<tool>"
/// with every character outside [A-Za-z0-9_-] replaced by '_', and if
/// longer than 64 characters cut to 55 plus '_' and 8 hex digits of a hash
/// of the whole name (so long names stay distinct).
std::string tool_name(std::string_view server, std::string_view tool);

enum class server_state : uint8_t {
  /// The process runs the handshake or the first tools/list.
  starting,
  /// Tools listed; calls go through.
  ready,
  /// The process exited; the next start is scheduled.
  restarting,
  /// Gave up: cannot be executed, or speaks an unsupported protocol version.
  failed,
  /// Shut down.
  stopped,
};

/// Returns e.g. "ready".
std::string_view to_string(server_state x) noexcept;

/// What an operator sees of one server.
struct server_status {
  std::string name;
  server_state state = server_state::starting;
  /// Of the current process (-1 if none).
  int pid = -1;
  /// As the server answered initialize.
  std::string protocol_version;
  std::string server_name;
  std::string server_version;
  /// Tools in the latest list.
  size_t tools = 0;
  /// Starts after the first one.
  uint64_t restarts = 0;
  /// The wait before the next (or latest) restart.
  uint32_t backoff_ms = 0;
  /// tools/call requests sent and not answered yet.
  size_t in_flight = 0;
  /// Why it last exited or failed ("" if never).
  std::string last_error;
  /// Lines from its stdout that were dropped: not JSON, not JSON-RPC,
  /// responses to unknown ids, too long.
  uint64_t garbage_lines = 0;
};

/// Receives a server's tools: after its first tools/list, after every
/// notifications/tools/list_changed and after every restart. Runs on the
/// server's I/O thread: keep it short and never destroy the server in it.
using tools_fn = std::function<void(const std::string& server,
                                    std::vector<tools::entry> tools)>;

/// One supervised MCP server process. Starts it at once; the destructor
/// shuts it down (stdin closed, SIGTERM, SIGKILL; reaped). Thread-safe.
class server {
public:
  /// Starts `cfg` (an invalid config leaves the server `failed` with the
  /// validation error). `on_tools` may be empty.
  server(server_config cfg, tools_fn on_tools);

  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  server_status status() const;

  /// Waits until the first tool list is in (true), or fails with why not:
  /// the server `failed` or `stopped` (its last error), or `deadline`
  /// passed (`timeout`, with the state and last error).
  result<bool> wait_ready(std::chrono::steady_clock::time_point deadline) const;

  /// Calls MCP tool `tool` (its name on the server). `done` runs exactly
  /// once: with {"content":[…]} (plus "structuredContent" if the server
  /// sent it), or a failure: `tool_failed` for a result with isError, a
  /// JSON-RPC error or a server that is down or exits meanwhile;
  /// `timeout` once `ctx.deadline` (or `call_timeout_ms`) passes and
  /// `cancelled` once `ctx.cancel` is set (both at once, with
  /// notifications/cancelled sent to the server). Never blocks. `done`
  /// runs on the caller's thread (a call refused at once) or on the I/O
  /// thread: keep it short and never destroy the server in it.
  void call(const std::string& tool, const json& args,
            const tools::context& ctx, tools::completion done);

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace troupe::mcp
