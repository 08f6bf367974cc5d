#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

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
  /// Most tool calls the planner may request in one step.
  uint32_t max_parallel_calls = 16;
  /// Input checks.
  guardrail::input_filter_config guardrail;
  /// Request deadlines.
  struct timeouts timeouts;
};

/// Checks every field; the error names the key and the bad value.
result<bool> validate(const engine_config& cfg);

} // namespace troupe
