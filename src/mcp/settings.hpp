#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/result.hpp"

namespace troupe::mcp {

/// One MCP server as the config lists it.
struct server_config {
  /// Prefix of its tools' names: [A-Za-z0-9_-], at most 32 characters.
  std::string name;
  /// Program to run (looked up in PATH), e.g. "node".
  std::string command;
  std::vector<std::string> args;
  /// Its whole environment besides PATH (passed through from the engine
  /// unless set here): nothing else of the engine's environment leaks.
  std::map<std::string, std::string> env;
  /// Permissions a principal needs to call its tools.
  std::vector<std::string> permissions{"execute_tools"};
  /// Longest a tools/call may take (also each tool's `timeout_ms`).
  uint32_t call_timeout_ms = 30000;
  /// Longest from starting the process to its first tool list.
  uint32_t start_timeout_ms = 10000;
  /// Wait before the first restart after an exit; doubles up to
  /// `restart_max_ms` while the server keeps exiting, and starts over once
  /// it stayed up for `restart_max_ms`.
  uint32_t restart_initial_ms = 100;
  uint32_t restart_max_ms = 30000;
  /// Longest line (message) read from or written to the server. A longer
  /// line from the server is dropped (counted as garbage) and reading goes
  /// on; the bytes queued for the server's stdin never exceed it either (a
  /// server that stops reading makes calls fail, not the engine block).
  uint64_t max_line_bytes = 16 << 20;
  /// On shutdown: wait this long after closing its stdin, then SIGTERM and
  /// wait again, then SIGKILL.
  uint32_t stop_timeout_ms = 1000;
};

/// Checks `x`; errors name the server and the bad key.
result<bool> validate(const server_config& x);

/// The declarations of one server's keys (`mcp_servers.<name>`).
const keys<server_config>& server_keys();

} // namespace troupe::mcp
