#pragma once

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace troupe {

/// How an injected fault shows.
enum class fault_mode : uint8_t {
  /// The handler throws: the role crashes (its supervisor restarts it).
  crash,
  /// The role answers the message with an error and quits with it.
  exit,
  /// The role never answers the message (the caller's deadline decides).
  stall,
};

/// Returns "crash", "exit" or "stall".
const char* to_string(fault_mode x) noexcept;

/// Parses a name produced by `to_string`; false if unknown.
bool from_string(const std::string& name, fault_mode& out) noexcept;

/// Fault injection for tests and drills (config key `faults.<role>`).
/// Deterministic, so a drill is repeatable.
struct fault_spec {
  fault_mode mode = fault_mode::crash;
  /// Fault on every Nth message the role handles; 0: never.
  uint32_t every = 0;
  /// Fault on this fraction of messages (0..1), evenly spaced: 0.01 hits
  /// messages 100, 200, ... Used when `every` is 0.
  double rate = 0;

  /// Not config but instrumentation: where the role reports how many
  /// messages wait in its mailbox (set by the engine; may be null).
  std::shared_ptr<std::atomic<uint64_t>> depth_gauge = nullptr;

  bool active() const noexcept {
    return every != 0 || rate > 0;
  }
};

/// The mailbox depth of each role, as each role last saw its own mailbox
/// (it looks on every message it handles, so an idle role reads 0).
class role_gauges {
public:
  /// The gauge of `role`, made on first use.
  std::shared_ptr<std::atomic<uint64_t>> depth(const std::string& role) {
    std::lock_guard guard{mutex_};
    auto& g = depths_[role];
    if (!g)
      g = std::make_shared<std::atomic<uint64_t>>(0);
    return g;
  }

  /// Every role's last depth, by role name.
  std::map<std::string, uint64_t> snapshot() const {
    std::lock_guard guard{mutex_};
    std::map<std::string, uint64_t> out;
    for (auto& [role, g] : depths_)
      out[role] = g->load(std::memory_order_relaxed);
    return out;
  }

private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<std::atomic<uint64_t>>> depths_;
};

/// What a role does with the message at hand.
enum class fault_action : uint8_t { none, exit, stall };

/// Counts a role's messages and decides which ones fail. Lives in the role's
/// state, so a restarted role counts afresh.
class fault_injector {
public:
  fault_injector() = default;

  fault_injector(std::string role, fault_spec spec)
    : role_(std::move(role)), spec_(spec) {}

  /// Call at the top of every handler: throws for `crash` faults, otherwise
  /// says what to do (see `inject` in actors/fail_fast.hpp).
  fault_action tick() {
    if (!spec_.active() || !hit(++count_))
      return fault_action::none;
    switch (spec_.mode) {
      case fault_mode::crash:
        throw std::runtime_error(describe());
      case fault_mode::exit:
        return fault_action::exit;
      case fault_mode::stall:
        return fault_action::stall;
    }
    return fault_action::none;
  }

  const std::string& role() const noexcept {
    return role_;
  }

  /// Reports the role's mailbox depth (messages waiting after this one).
  void note_depth(size_t n) noexcept {
    if (spec_.depth_gauge)
      spec_.depth_gauge->store(n, std::memory_order_relaxed);
  }

  /// "injected fault in ROLE (message N)".
  std::string describe() const {
    return "injected " + std::string{to_string(spec_.mode)} + " in " + role_ +
           " (message " + std::to_string(count_) + ")";
  }

private:
  bool hit(uint64_t n) const noexcept {
    if (spec_.every != 0)
      return n % spec_.every == 0;
    auto now = std::floor(static_cast<double>(n) * spec_.rate);
    auto before = std::floor(static_cast<double>(n - 1) * spec_.rate);
    return now > before;
  }

  std::string role_;
  fault_spec spec_;
  uint64_t count_ = 0;
};

} // namespace troupe
