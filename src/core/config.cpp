#include "core/config.hpp"

#include <system_error>

namespace troupe {

result<bool> validate(const engine_config& cfg) {
  auto bad = [](std::string msg) {
    return failure{errc::invalid_config, std::move(msg)};
  };
  std::error_code ec;
  if (!std::filesystem::is_directory(cfg.workspace, ec))
    return bad("workspace '" + cfg.workspace.string() +
               "' is not an existing directory");
  if (cfg.max_file_bytes == 0)
    return bad("max_file_bytes must be > 0, got 0");
  if (cfg.memory_capacity == 0)
    return bad("memory_capacity must be > 0, got 0");
  if (cfg.memory_max_sessions == 0)
    return bad("memory_max_sessions must be > 0, got 0");
  if (cfg.max_steps == 0 || cfg.max_steps > 1000)
    return bad("max_steps must be in 1..1000, got " +
               std::to_string(cfg.max_steps));
  if (cfg.max_parallel_calls == 0 || cfg.max_parallel_calls > 1000)
    return bad("max_parallel_calls must be in 1..1000, got " +
               std::to_string(cfg.max_parallel_calls));
  auto positive = [&](std::chrono::milliseconds x,
                      const char* key) -> std::optional<failure> {
    if (x.count() <= 0)
      return bad(std::string{"timeouts."} + key + " must be > 0 ms, got " +
                 std::to_string(x.count()));
    return std::nullopt;
  };
  for (auto [x, key] : {std::pair{cfg.timeouts.role, "role"},
                        std::pair{cfg.timeouts.tool, "tool"},
                        std::pair{cfg.timeouts.model, "model"}})
    if (auto f = positive(x, key))
      return *f;
  return guardrail::validate(cfg.guardrail);
}

} // namespace troupe
