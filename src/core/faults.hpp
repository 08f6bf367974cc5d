#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace troupe {

/// Fault injection for tests and drills (config key `faults.<role>`).
struct fault_spec {
  /// Crash (throw) on every Nth message the role handles; 0: never.
  /// Deterministic, so a drill is repeatable: "1% of messages" is 100.
  uint32_t crash_every = 0;
};

/// Counts a role's messages and throws on the configured ones. Lives in the
/// role's state, so a restarted role counts afresh.
class fault_injector {
public:
  fault_injector() = default;

  fault_injector(std::string role, fault_spec spec)
    : role_(std::move(role)), spec_(spec) {}

  /// Call at the top of every handler.
  void tick() {
    if (spec_.crash_every != 0 && ++count_ % spec_.crash_every == 0)
      throw std::runtime_error("injected fault in " + role_ + " (message " +
                               std::to_string(count_) + ")");
  }

private:
  std::string role_;
  fault_spec spec_;
  uint64_t count_ = 0;
};

} // namespace troupe
