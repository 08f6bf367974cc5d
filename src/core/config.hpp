#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "guardrail/input_filter.hpp"

namespace troupe {

/// Deadlines of the requests between roles. Every request has one.
struct timeouts {
  /// Guardrail checks and memory operations.
  std::chrono::milliseconds role{5000};
  /// One tool call.
  std::chrono::milliseconds tool{30000};
  /// One model completion (the planner's request to its provider).
  std::chrono::milliseconds model{60000};
};

/// Everything an engine instance needs; validated before any actor starts.
struct engine_config {
  /// Root the file tool is confined to.
  std::filesystem::path workspace = ".";
  /// Largest file the file tool reads, in bytes.
  uint64_t max_file_bytes = 1 << 20;
  /// Short-term memory: entries kept per session (LRU beyond that).
  size_t memory_capacity = 1000;
  /// Short-term memory: sessions kept (LRU beyond that).
  size_t memory_max_sessions = 10000;
  /// Most agent-loop steps (planner round trips with tool calls) per task.
  uint32_t max_steps = 8;
  /// Workers of the local tool executor: calls of one step run in parallel
  /// on up to this many.
  uint32_t tool_workers = 2;
  /// Most tool calls the planner may request in one step.
  uint32_t max_parallel_calls = 16;
  /// Input checks.
  guardrail::input_filter_config guardrail;
  /// Request deadlines.
  struct timeouts timeouts;
};

/// Checks every field; the error names the key and the bad value.
result<bool> validate(const engine_config& cfg);

/// Applies the JSON object `text` (the format of `config/troupe.json`) on
/// top of `cfg`. Unknown keys, wrong types and bad values are errors that
/// name the key; `cfg` is left untouched on error.
result<engine_config> apply_json(engine_config cfg, std::string_view text);

/// Reads and applies a config file; errors name the file.
result<engine_config> load_file(engine_config cfg,
                                const std::filesystem::path& path);

} // namespace troupe
