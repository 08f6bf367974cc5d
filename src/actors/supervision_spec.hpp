#pragma once

// The engine's supervision tree as data (docs/architecture.md): which
// supervisors exist and with which policy, which roles each starts, in which
// order and under which names, and which roles the embedder supplied
// instead. `plan_supervision` builds it from the settings alone, so the tree
// can be read and tested before anything starts; `engine::start` then gives
// each role its spawn function (by its `role_kind`) and spawns the root.
//
// `supervisor_spec` and `child_spec` (supervisor.hpp) are what a running
// supervisor takes: they hold start functions and hide a nested
// supervisor's children inside one. A `role_spec` holds no function and no
// actor handle, so a tree of them compares and prints.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/settings.hpp"
#include "actors/supervisor.hpp"

namespace troupe {

struct engine_options;

/// What a node of the engine's tree runs; the engine maps each kind to the
/// role's spawn function.
enum class role_kind : uint8_t {
  /// A supervisor of the nodes below it.
  supervisor,
  /// The monitor (event counters, logs).
  monitor,
  /// The memory role.
  memory,
  /// The guardrail.
  guardrail,
  /// The rule-based provider that needs no network.
  offline_provider,
  /// A provider over HTTP (openai, anthropic).
  http_provider,
  /// The local tool executor.
  tool_executor,
  /// A planner instance.
  planner,
  /// The task manager, where tasks go.
  task_manager,
};

/// Returns the enumerator's name: "supervisor", "monitor", "memory"…
const char* to_string(role_kind x) noexcept;

/// One node of the engine's supervision tree: a role, or a supervisor with
/// its policy and its children.
struct role_spec {
  /// Stable name ("root", "providers", "memory", "planner.1"…): a role's
  /// handle is published in the role directory under it.
  std::string name;
  role_kind kind = role_kind::supervisor;
  /// When its parent restarts it.
  restart_type restart = restart_type::permanent;
  /// Time its parent gives it to stop before killing it (its parent's
  /// `policy.shutdown`; unused for the root, which the engine stops).
  std::chrono::milliseconds shutdown{5000};
  /// A provider's place in the chain (0: the primary) or a planner's
  /// instance number; 0 for the other roles.
  size_t index = 0;
  /// A supervisor's policy (strategy, intensity, period, backoff, and the
  /// shutdown time its children get); the default for a role.
  supervisor_policy policy;
  /// A supervisor's children in start order (they stop in reverse).
  std::vector<role_spec> children;

  bool operator==(const role_spec&) const = default;
};

/// Which roles the embedder supplied in `engine_options` (its handle is
/// set there): the engine neither starts nor restarts them, but stops them
/// with itself (in this order).
struct supplied_roles {
  bool provider = false;
  bool tools = false;
  bool planner = false;
  bool memory = false;

  bool operator==(const supplied_roles&) const = default;
};

/// Which roles `opts` supplies.
supplied_roles supplied_in(const engine_options& opts);

/// The engine's supervision tree before anything starts.
struct supervision_spec {
  /// The root supervisor ("root") and every role the engine starts below it.
  role_spec root;
  /// The roles the engine does not start.
  supplied_roles supplied;

  bool operator==(const supervision_spec&) const = default;
};

/// The tree `engine::start` spawns for `cfg` (which passed `validate`) when
/// the embedder supplies `supplied`. Under the root: the monitor (everyone
/// reports to it), memory, the guardrail, the providers, the tool
/// executors, the planners, then the task manager. A supplied role is left
/// out, and so is a supervisor left without children; a supplied planner
/// plans with the providers of its own node, so no provider is started.
/// Pure: reads only its arguments.
supervision_spec plan_supervision(const engine_settings& cfg,
                                  supplied_roles supplied);

/// The tree for `cfg` and the roles `opts` supplies:
/// `plan_supervision(cfg, supplied_in(opts))`.
supervision_spec plan_supervision(const engine_settings& cfg,
                                  const engine_options& opts);

/// The nodes below `x` (children, their children…): the roles and nested
/// supervisors `x` starts.
size_t descendants(const role_spec& x);

/// `x` as text: one node a line, indented by depth, then the supplied
/// roles ("supplied: provider, tools" or "supplied: none"), e.g. "root:
/// one_for_one, intensity 10 per 10000 ms, backoff 0 ms\n  monitor: monitor,
/// permanent, shutdown 5000 ms\n…supplied: none\n".
std::string to_string(const supervision_spec& x);

} // namespace troupe
