#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace troupe {

/// Every error the engine reports. Values start at 1 (0 means "no error" in
/// CAF) and are stable: they cross node boundaries inside `caf::error`.
enum class errc : uint8_t {
  /// An error without a more specific code.
  unspecified = 1,
  /// Input that does not have the expected shape (bad JSON, missing field).
  invalid_input,
  /// The guardrail rejected the task's input or output.
  rejected,
  /// The planner asked for a tool that is not registered.
  unknown_tool,
  /// A tool was called with arguments it cannot use.
  invalid_arguments,
  /// A tool ran and failed (division by zero, unreadable file, ...).
  tool_failed,
  /// A request between actors ran past its deadline.
  timeout,
  /// The role (or the node serving it) is down.
  role_down,
  /// The task used up its step budget without a final answer.
  step_limit,
  /// A path points outside the workspace root.
  path_escape,
  /// A file or payload exceeds its size limit.
  too_large,
  /// The model (LLM provider) gave an unusable answer.
  provider_failed,
  /// A configuration value is invalid.
  invalid_config,
  /// Not found (a file, a task, an entry).
  not_found,
  /// The task was cancelled (e.g. the engine shut down while it ran).
  cancelled,
  /// The principal lacks the permission the action needs.
  forbidden,
  /// The task spent its budget (tokens; steps and time have their own).
  budget_exceeded,
  /// The sandbox a tool runs in cannot be set up (bubblewrap missing, or
  /// it cannot create namespaces): the tool refuses rather than run
  /// unconfined.
  sandbox_unavailable,
  /// No capacity left to take the work (a queue is full); try again later.
  overloaded,
  /// The model's final answer did not match the agent's output schema,
  /// also after it was asked once more.
  invalid_output,
  /// The conversation thread has a run going; one writer at a time.
  thread_busy,
};

/// Returns the name of `x`, e.g. `"unknown_tool"`.
std::string_view to_string(errc x) noexcept;

/// Parses a name produced by `to_string`; returns false if unknown.
bool from_string(std::string_view name, errc& out) noexcept;

} // namespace troupe
