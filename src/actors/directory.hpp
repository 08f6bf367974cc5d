#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>

#include "actors/protocol.hpp"
#include "agents/catalog.hpp"
#include "guardrail/rules.hpp"
#include "tools/tool.hpp"
#include "actors/settings.hpp"

namespace troupe {

/// The roles a task talks to, as of one moment. Immutable once published.
struct role_set {
  /// This engine instance, random per start: with a task id and a call id
  /// it makes each tool call's idempotency key unique across engines.
  std::string engine_id;
  /// The planner pool ("planner", "planner.1"…): a task keeps to one
  /// instance, so a crash bounces only that instance's queue.
  std::vector<planner_actor> planners;
  /// The model providers (`provider_roster`): the primary first, then its
  /// fallbacks, then those only agents name; "provider", "provider.1"…
  std::vector<provider_actor> providers;
  /// The primary provider is the embedder's (it may not stream).
  bool primary_supplied = false;
  guardrail_actor guardrail;
  tool_executor_actor tools;
  memory_actor memory;
  monitor_actor monitor;
  /// The task manager: where tasks go.
  task_manager_actor tasks;
  struct timeouts timeouts;
  uint32_t max_steps = 8;
  /// Most model tokens per task (0: no limit).
  uint64_t max_task_tokens = 0;
  uint32_t max_parallel_calls = 16;
  /// Memories recalled before planning (0: none).
  uint32_t recall_limit = 3;
  /// The tools in force (their specs: what the model is offered, what a
  /// call needs, whether it may run twice).
  std::shared_ptr<const tools::catalog> catalog;
  /// The agents in force (swapped whole on reload; a task keeps the agent
  /// it started with).
  std::shared_ptr<agents::holder> agents;
  /// The guardrail's rules: every string a task hands out passes their
  /// output filter (`scrub`).
  std::shared_ptr<const guardrail::rules_holder> rules;

  /// `text` as it may leave the engine (see output_filter::scrub); as is
  /// without rules.
  std::string scrub(std::string_view text) const {
    if (!rules)
      return std::string{text};
    return rules->current().output->scrub(text);
  }

  /// `scrub` for a JSON text (every string in it); as is without rules.
  std::string scrub_json(std::string_view text) const {
    if (!rules)
      return std::string{text};
    return rules->current().output->scrub_json(text);
  }

  /// The planner instance serving task `task_id`.
  const planner_actor& planner_for(uint64_t task_id) const {
    return planners[task_id % planners.size()];
  }

  /// True if `name` is an idempotent tool: a call lost in a crash of the
  /// tool executor is then retried once on its successor.
  bool idempotent(std::string_view name) const {
    if (!catalog)
      return false;
    auto reg = catalog->snapshot();
    auto e = reg->find(name);
    return e != nullptr && e->spec.idempotent;
  }
};

/// The index of an instance of a pooled or chained role: `base` → 0,
/// "<base>.N" → N (1..999); nothing for other names.
std::optional<size_t> role_index(std::string_view name, std::string_view base);

/// `base` for index 0, "<base>.N" otherwise.
std::string role_name(std::string_view base, size_t index);

/// "provider" → 0, "provider.N" → N; nothing for other names.
std::optional<size_t> provider_index(std::string_view name);

/// The name of the provider at `index` in the fallback chain.
std::string provider_name(size_t index);

/// Stable addresses: the current handle of every role, by name. Supervisors
/// publish a role's new handle when it (re)starts; readers take a snapshot,
/// so a task never holds a handle older than its own start.
class role_directory {
public:
  explicit role_directory(role_set initial)
    : current_(std::make_shared<const role_set>(std::move(initial))) {}

  /// The roles as of now.
  std::shared_ptr<const role_set> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }

  /// Publishes `handle` as the role `name` ("planner", "provider",
  /// "provider.N", "guardrail", "tools", "memory", "monitor", "tasks");
  /// returns false for an unknown name (e.g. a supervisor's).
  bool publish(std::string_view name, const caf::actor& handle);

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const role_set> current_;
};

} // namespace troupe
