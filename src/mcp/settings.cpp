#include "mcp/settings.hpp"

#include <algorithm>

namespace troupe::mcp {

namespace {

bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::optional<failure> read_env(const json& v, server_config& s,
                                const std::string& path) {
  if (!v.is_object())
    return config_error(path + " must be an object of name -> value");
  for (auto& [k, x] : v.items()) {
    if (!x.is_string())
      return config_error(path + "." + k + " must be a string");
    s.env[k] = x.get<std::string>();
  }
  return std::nullopt;
}

} // namespace

const keys<server_config>& server_keys() {
  using s = server_config;
  static const auto table =
    keys<s>{}
      .text("command", &s::command, "program to run (looked up in PATH)")
      .list("args", &s::args, "its arguments")
      .custom("env", read_env,
              [](const s&) {
                return json{{"type", "object"},
                            {"additionalProperties", {{"type", "string"}}}};
              },
              "its whole environment besides PATH")
      .list("permissions", &s::permissions,
            "permissions a principal needs to call its tools")
      .integer("call_timeout_ms", &s::call_timeout_ms, 1, 86'400'000,
               "longest a tools/call may take")
      .integer("start_timeout_ms", &s::start_timeout_ms, 1, 600'000,
               "longest from start to its first tool list")
      .integer("restart_initial_ms", &s::restart_initial_ms, 1, 600'000,
               "wait before the first restart (doubles while it keeps exiting)")
      .integer("restart_max_ms", &s::restart_max_ms, 1, 3'600'000,
               "longest wait between restarts")
      .integer("max_line_bytes", &s::max_line_bytes, 1024, int64_t{1} << 30,
               "longest message read from or written to it");
  return table;
}

result<bool> validate(const server_config& x) {
  auto bad = [&](std::string what) -> result<bool> {
    return failure{errc::invalid_config,
                   "MCP server '" + x.name + "': " + std::move(what)};
  };
  if (x.name.empty())
    return failure{errc::invalid_config, "MCP server name must not be empty"};
  if (x.name.size() > 32 ||
      !std::all_of(x.name.begin(), x.name.end(), name_char))
    return bad("name must be 1 to 32 of [A-Za-z0-9_-] (it prefixes its "
               "tools' names)");
  if (x.command.empty())
    return bad("command must not be empty");
  for (auto& [k, v] : x.env)
    if (k.empty() || k.find('=') != std::string::npos ||
        k.find('\0') != std::string::npos || v.find('\0') != std::string::npos)
      return bad("env key '" + k + "' must be non-empty without '=' or NUL");
  for (auto& p : x.permissions)
    if (p.empty())
      return bad("permissions must not hold an empty name");
  if (auto f = server_keys().check(x, "mcp_servers." + x.name))
    return *f;
  if (x.restart_max_ms < x.restart_initial_ms)
    return bad("restart_max_ms (" + std::to_string(x.restart_max_ms) +
               ") must be at least restart_initial_ms (" +
               std::to_string(x.restart_initial_ms) + ")");
  return true;
}

} // namespace troupe::mcp
