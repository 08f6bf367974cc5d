#pragma once

#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/types.hpp"

namespace troupe::cli {

/// Texts stored by successful `memory_store` calls during the task.
std::vector<std::string> remembered(const task_result& r);

/// One step: its calls and their results (arguments and outputs as JSON
/// values).
json to_json(const step_record& step);

/// What a task came to, without its id, status and steps: answer, error
/// code, notes, what was remembered and recalled, token usage, provider.
json outcome_json(const task_result& r);

/// The machine-readable result: status, answer, error code, steps (with
/// arguments and outputs as JSON values), and what was remembered.
json to_json(const task_result& r);

/// The human-readable result: the answer, then what was remembered.
std::string to_text(const task_result& r);

/// Recalled memories as JSON (id, text, score, origin).
json to_json(const std::vector<memory_hit>& hits);

/// The tool list as JSON (name, description, parameters schema).
json to_json(const std::vector<tool_spec>& specs);

/// The supervision tree as text, one child per line under its supervisor:
///   root
///   ├── monitor            running     restarts 0
///   ├── providers          running     restarts 0
///   │   └── provider       restarting  restarts 2  last exit: …
std::string supervision_text(const std::vector<child_status>& rows);

/// The supervision tree as JSON: an array of {name, parent, state, running,
/// restarts, last_exit}.
json to_json(const std::vector<child_status>& rows);

} // namespace troupe::cli
