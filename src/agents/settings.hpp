#pragma once

// Agents as configuration (key `agents.<name>`): who the model is told it
// is, which model, which tools, what it may spend, what it remembers and
// what shape its answer takes. CAF-free; the catalog (agents/catalog.hpp)
// resolves these into what a task runs with.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/result.hpp"
#include "tools/schema.hpp"

namespace troupe::agents {

/// The name every engine has: today's behaviour (the engine's provider
/// chain, all tools, the engine's budgets), unless `agents.default` says
/// otherwise.
inline constexpr std::string_view default_agent = "default";

/// What an agent remembers (key `agents.<name>.memory`).
struct memory_policy {
  /// False: no recall before planning and no memory tools.
  bool enabled = true;
  /// The long-term namespace under the principal ("<principal>/<ns>");
  /// empty: the agent's name. Agents that share a namespace share memories
  /// (never across principals).
  std::string ns;
  /// Memories recalled before planning; -1: the engine's
  /// `memory.recall_limit`.
  int32_t recall_limit = -1;
};

/// One agent, as configured.
struct agent_config {
  /// One line on what it is for (listed by the API).
  std::string description;
  /// The system prompt, inline; or read from `instructions_file` (not
  /// both).
  std::string instructions;
  std::filesystem::path instructions_file;
  /// "" (the engine's provider chain), "offline", or a name from
  /// `providers`.
  std::string provider;
  /// The model, over the provider's own; "" keeps the provider's.
  std::string model;
  /// The tools it may use: names or globs (`*`, `?`, `[…]`); an entry
  /// starting with `!` excludes (and wins). The principal's permissions
  /// still decide every call: an agent never widens what its caller may do.
  std::vector<std::string> tools{"*"};
  /// Most tool steps per task; 0: the engine's `max_steps`.
  uint32_t max_steps = 0;
  /// Most model tokens per task; 0: the engine's `budget.max_tokens`.
  uint64_t max_tokens = 0;
  /// One task end to end; 0: the engine's `timeouts.task_ms`.
  std::chrono::milliseconds timeout{0};
  memory_policy memory;
  /// Most tokens (estimated) of a thread's earlier turns a run gives the
  /// model; the oldest whole turns beyond it are left out.
  uint64_t history_tokens = 16000;
  /// `history: "summarize"`: the turns left out are summarized by the
  /// agent's model, and the summary goes first instead (`"drop"`, the
  /// default: they are left out).
  bool summarize_history = false;
  /// A JSON Schema (as JSON text) the final answer must match; "" for
  /// free text.
  std::string output_schema;
};

/// The declarations of an agent's keys.
const keys<agent_config>& agent_keys();

/// Checks `cfg` at `key` ("agents.<name>") beyond its declarations:
/// instructions from one place, a known provider (`provider_known`), a
/// valid memory namespace (`valid_name`), a schema that compiles, tool
/// patterns that are not empty. Pure.
result<bool> validate(const agent_config& cfg, const std::string& key,
                      bool provider_known);

/// `cfg.output_schema` compiled ("" compiles to null); the error names
/// `key`'s output_schema.
result<std::shared_ptr<const tools::schema_validator>>
compile_output_schema(const agent_config& cfg, const std::string& key);

/// True if `name` matches the glob `pattern` (`*`, `?`, `[…]`).
bool glob_match(std::string_view pattern, std::string_view name);

/// True if the tool patterns `patterns` allow tool `name`: one positive
/// pattern matches and no `!` pattern does.
bool tool_allowed(const std::vector<std::string>& patterns,
                  std::string_view name);

} // namespace troupe::agents
