#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/result.hpp"
#include "tools/http_get.hpp"
#include "tools/shell.hpp"

namespace troupe::tools {

/// Per tool (built-in, embedder's or MCP): timeout, cache TTL or
/// permissions other than the tool's own (key `tools.overrides.<name>`).
struct tool_override {
  std::optional<uint32_t> timeout_ms;
  std::optional<uint32_t> cache_ttl_ms;
  std::optional<std::vector<std::string>> permissions;
};

/// The tool executor's settings (key `tools`).
struct settings {
  /// Blocking calls that may wait for a worker; past it a call fails at once
  /// with `overloaded`.
  uint32_t queue = 1024;
  /// Results the tool result cache holds (LRU beyond; 0: no cache). Only
  /// tools with a cache TTL are cached.
  uint32_t cache_entries = 1024;
  /// The http_get tool: allowed hosts (none by default), limits.
  http_get_config http_get;
  /// The shell tool's sandbox limits (its workspace is the engine's).
  shell_config shell;
  /// Per-tool overrides by tool name.
  std::map<std::string, tool_override, std::less<>> overrides;
};

/// The declarations of the `tools` keys.
const keys<settings>& settings_keys();

/// Checks what the declarations cannot: the http_get host patterns.
result<bool> validate(const settings& cfg);

} // namespace troupe::tools
