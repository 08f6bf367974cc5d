#pragma once

#include <memory>
#include <string_view>

#include "core/result.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace troupe::log {

/// spdlog pattern of every line: a JSON object whose inner fields are the
/// message (`"key":value,...`).
inline constexpr const char* json_pattern =
  R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})";

/// The engine's logger: JSON lines on stderr, one event per line, so stdout
/// stays free for the command line's output.
std::shared_ptr<spdlog::logger> get();

/// Sets the level by name: trace, debug, info, warn, error, critical, off.
/// Fails with `invalid_config` naming the bad value.
result<bool> set_level(std::string_view name);

/// Escapes `x` as a JSON string literal (with quotes) for log lines.
std::string quote(std::string_view x);

} // namespace troupe::log
