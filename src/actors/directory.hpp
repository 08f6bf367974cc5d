#pragma once

#include <memory>
#include <mutex>
#include <string_view>

#include <caf/actor.hpp>

#include "actors/protocol.hpp"
#include "core/config.hpp"

namespace troupe {

/// The roles a task talks to, as of one moment. Immutable once published.
struct role_set {
  planner_actor planner;
  provider_actor provider;
  guardrail_actor guardrail;
  tool_executor_actor tools;
  memory_actor memory;
  monitor_actor monitor;
  /// The task manager: where tasks go.
  task_manager_actor tasks;
  struct timeouts timeouts;
  uint32_t max_steps = 8;
  uint32_t max_parallel_calls = 16;
};

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
  /// "guardrail", "tools", "memory", "monitor", "tasks"); returns false for an
  /// unknown name.
  bool publish(std::string_view name, const caf::actor& handle);

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const role_set> current_;
};

} // namespace troupe
