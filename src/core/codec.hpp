#pragma once

// The JSON encoding of the core types, as the HTTP API, the journal and
// `troupe run --json` show them. CAF-free.

#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/types.hpp"

namespace troupe {

/// Texts stored by successful `memory_store` calls during the task.
std::vector<std::string> remembered(const task_result& r);

/// One step: its calls and their results (arguments and outputs as JSON
/// values).
json to_json(const step_record& step);

/// A step back from `to_json` (arguments and outputs that were kept as JSON
/// values come back as JSON text; text that was not JSON as it was).
step_record step_from_json(const json& j);

/// What a task came to, without its id, status and steps: answer, error
/// code, notes, what was remembered and recalled, token usage, provider.
json outcome_json(const task_result& r);

/// The machine-readable result: status, answer, error code, steps (with
/// arguments and outputs as JSON values), and what was remembered.
json to_json(const task_result& r);

/// Recalled memories as JSON (id, text, score, origin).
json to_json(const std::vector<memory_hit>& hits);

/// The tool list as JSON (name, description, parameters schema).
json to_json(const std::vector<tool_spec>& specs);

/// The supervision tree as JSON: an array of {name, parent, state, running,
/// restarts, last_exit}.
json to_json(const std::vector<child_status>& rows);

} // namespace troupe
