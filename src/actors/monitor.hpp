#pragma once

#include <array>
#include <map>
#include <memory>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace troupe {

/// State of the monitor: event counters and the JSON-lines logger.
struct monitor_state {
  /// Events seen so far, by kind.
  std::array<uint64_t, event_kind_count> counts{};
  /// Restarts by role, escalations by supervisor.
  std::map<std::string, uint64_t> restarts;
  std::map<std::string, uint64_t> escalations;
  /// Where log lines go (the engine's logger).
  std::shared_ptr<spdlog::logger> logger;

  /// Counts `x` and logs it as one JSON line if the level allows.
  void record(const event& x);

  static inline const char* name = "troupe.monitor";
};

/// Spawns as the monitor role.
monitor_actor::behavior_type
monitor_role(monitor_actor::stateful_pointer<monitor_state> self);

} // namespace troupe
