#pragma once

// The engine's own settings and those of the modules it runs: what
// `engine::start` takes. CAF-free; the aggregate config (src/config/) adds
// the cluster's and the daemon's settings and reads files, variables and
// flags into it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agents/settings.hpp"
#include "core/faults.hpp"
#include "core/keys.hpp"
#include "core/result.hpp"
#include "guardrail/settings.hpp"
#include "llm/settings.hpp"
#include "mcp/settings.hpp"
#include "memory/settings.hpp"
#include "tools/settings.hpp"

namespace troupe {

using llm::max_provider_fallbacks;

/// Deadlines (key `timeouts`). Every request a task makes is bounded by the
/// task's deadline; calls that leave the process also have their own.
struct timeouts {
  /// One task, end to end: the runner fails the task with `timeout` (naming
  /// what it was waiting for) when this passes, whatever it is waiting on.
  std::chrono::milliseconds task{120000};
  /// One call to a tool executor on another node.
  std::chrono::milliseconds tool{30000};
  /// Setup requests between roles (e.g. listing a remote node's tools).
  std::chrono::milliseconds role{5000};
};

/// Which children a supervisor restarts when one fails.
enum class restart_strategy : uint8_t {
  /// Only the failed child.
  one_for_one,
  /// Every child (the others are stopped first, in reverse order).
  one_for_all,
  /// The failed child and every child started after it.
  rest_for_one,
};

/// Returns "one_for_one", "one_for_all" or "rest_for_one".
const char* to_string(restart_strategy x) noexcept;

/// A supervisor's restart policy, as configured.
struct supervisor_policy {
  restart_strategy strategy = restart_strategy::one_for_one;
  /// At most this many restarts within `period`; one more escalates.
  uint32_t intensity = 10;
  std::chrono::milliseconds period{10000};
  /// Delay before each restart.
  std::chrono::milliseconds backoff{0};
  /// Time each child gets to stop before it is killed.
  std::chrono::milliseconds shutdown{5000};

  bool operator==(const supervisor_policy&) const = default;
};

/// The policies of the engine's supervisors (the tree of
/// docs/architecture.md): key `supervision.<name>`.
struct supervision_config {
  /// The root: monitor, memory, guardrail, providers, tools, planner, tasks.
  supervisor_policy root;
  /// The model providers (the primary and its fallbacks).
  supervisor_policy providers;
  /// The tool executors.
  supervisor_policy tool_executors;
  /// The planner pool.
  supervisor_policy planners;
};

/// Spending limits of one task (key `budget`).
struct budget_config {
  /// Most model tokens (prompt + completion) one task may spend; 0: no
  /// limit.
  uint64_t max_tokens = 0;
};

/// Everything an engine instance needs; validated before any actor starts.
/// Members mirror the config file's keys.
struct engine_settings {
  /// Root the file tool is confined to.
  std::filesystem::path workspace = ".";
  /// Largest file the file tool reads, in bytes.
  uint64_t max_file_bytes = 1 << 20;
  /// Where data lives on disk (the long-term memory database). Empty:
  /// nothing is kept on disk. The command line defaults it to
  /// $XDG_DATA_HOME/troupe (else ~/.local/share/troupe).
  std::filesystem::path data_dir;
  /// Most agent-loop steps (planner round trips with tool calls) per task.
  uint32_t max_steps = 8;
  /// Threads of the local tool executor's worker pool, where blocking tools
  /// (files, processes, network) run: calls of one step run in parallel on
  /// up to this many.
  uint32_t tool_workers = 2;
  /// Planner instances: each task keeps to one, so they plan in parallel
  /// and a crash loses only one instance's queue.
  uint32_t planner_workers = 2;
  /// Most tool calls the planner may request in one step.
  uint32_t max_parallel_calls = 16;
  /// The tool executor and the built-in tools.
  tools::settings tools;
  /// MCP servers started with the engine; their tools are offered as
  /// "<name>__<tool>" (key `mcp_servers.<name>`).
  std::vector<mcp::server_config> mcp_servers;
  /// Short- and long-term memory.
  memory::settings memory;
  /// Input checks and the rules file.
  guardrail::settings guardrail;
  /// Principals, roles and permissions.
  guardrail::access_config access;
  /// Request deadlines.
  struct timeouts timeouts;
  /// Named providers for the fallback chain (key `providers`).
  std::map<std::string, llm::provider_config> providers;
  /// The primary model provider and its fallback chain (key `provider`).
  llm::primary_provider provider;
  /// Spending limits per task.
  budget_config budget;
  /// Agents by name (key `agents.<name>`); `default` is the engine's own
  /// behaviour unless configured.
  std::map<std::string, agents::agent_config> agents;
  /// Injected faults by role name (memory, guardrail, planner, provider,
  /// provider.1…, tools); empty in production.
  std::map<std::string, fault_spec> faults;
  /// Restart policies.
  supervision_config supervision;
};

/// True for the role names `faults` accepts: memory, guardrail, planner,
/// provider, provider.1.., tools.
bool is_fault_role(std::string_view role);

/// The declarations of the engine's keys (the top of the config file but
/// for the cluster's, the daemon's and the log level).
const keys<engine_settings>& engine_keys();

/// The long-term store's settings if `cfg` keeps one (a data directory is
/// set and long-term memory is on).
std::optional<memory::long_term_config>
long_term_of(const engine_settings& cfg);

/// The providers an engine runs, by index: "" for the primary (0), then
/// `provider.fallback` in order, then each provider an agent names that
/// the chain does not hold ("offline" is the rule-based provider, any
/// other name one of `providers`). An agent's provider reaches the primary
/// by its own name only if it is a fallback too: the primary has none.
std::vector<std::string> provider_roster(const engine_settings& cfg);

/// The settings of the provider at `index` of `provider_roster(cfg)`.
/// Requires a `cfg` that passed `validate` and an index within the roster.
llm::provider_config provider_settings(const engine_settings& cfg,
                                       size_t index);

/// The provider chain (indices into `provider_roster(cfg)`) of an agent
/// whose `provider` is `name`: "" is the engine's chain (primary, then
/// fallbacks); a name is that provider, then the engine's chain without
/// it. Nothing if the roster has no such provider.
std::optional<std::vector<uint32_t>>
agent_chain(const engine_settings& cfg, const std::string& name);

/// Checks every key and what holds between keys; the error names the key
/// and the bad value. Pure: reads neither the environment nor the disk.
result<bool> validate(const engine_settings& cfg);

/// Checks what `cfg` needs of the world: the workspace exists, each
/// provider's API key variable is set.
result<bool> preflight(const engine_settings& cfg);

} // namespace troupe
