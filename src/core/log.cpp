#include "core/log.hpp"

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/json.hpp"

namespace troupe::log {

std::shared_ptr<spdlog::logger> get() {
  static std::once_flag once;
  static std::shared_ptr<spdlog::logger> instance;
  std::call_once(once, [] {
    instance = std::make_shared<spdlog::logger>(
      "troupe", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // Each message is the inner part of a JSON object: `"key":value,...`.
    instance->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                          spdlog::pattern_time_type::utc);
    instance->set_level(spdlog::level::warn);
  });
  return instance;
}

result<bool> set_level(std::string_view name) {
  static constexpr std::string_view names[] = {
    "trace", "debug", "info", "warn", "error", "critical", "off"};
  for (size_t i = 0; i < std::size(names); ++i)
    if (names[i] == name) {
      get()->set_level(static_cast<spdlog::level::level_enum>(i));
      return true;
    }
  return failure{errc::invalid_config,
                 "log level '" + std::string{name} +
                   "' is not one of trace, debug, info, warn, error, "
                   "critical, off"};
}

std::string quote(std::string_view x) {
  return dump(json(std::string{x}));
}

} // namespace troupe::log
