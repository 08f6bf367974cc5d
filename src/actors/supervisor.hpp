#pragma once

// Supervisors after Erlang/OTP: policy as data (a supervisor spec with child
// specs), strategies one_for_one / one_for_all / rest_for_one, restart types
// permanent / transient / temporary, restart intensity with escalation,
// backoff, ordered start and reverse-ordered shutdown with a timeout per
// child. CAF 0.17 gives monitors and exit handlers, not supervisors.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/settings.hpp"
#include "core/result.hpp"

namespace troupe {

/// When a child that ended is restarted.
enum class restart_type : uint8_t {
  /// Always.
  permanent,
  /// Only if it ended abnormally (not a normal exit or a shutdown).
  transient,
  /// Never.
  temporary,
};

/// Returns "permanent", "transient" or "temporary".
const char* to_string(restart_type x) noexcept;

/// How to start one child and how it stops (an OTP child spec).
struct child_spec {
  /// Stable name, e.g. "memory"; callers route to roles by it.
  std::string name;
  /// Spawns the child; called at start and at every restart.
  std::function<caf::actor(caf::local_actor* supervisor)> start;
  restart_type restart = restart_type::permanent;
  /// Time a child gets to stop after an exit message before it is killed.
  std::chrono::milliseconds shutdown{5000};
};

/// A supervisor's policy and children (OTP supervisor flags + child specs).
struct supervisor_spec {
  std::string name = "supervisor";
  restart_strategy strategy = restart_strategy::one_for_one;
  /// At most `intensity` restarts within `period`; one more and the
  /// supervisor stops its children and exits with an error (escalation).
  uint32_t intensity = 3;
  std::chrono::milliseconds period{5000};
  /// Delay before each restart.
  std::chrono::milliseconds backoff{0};
  std::vector<child_spec> children;
};

/// Checks `spec`: named children with start functions, unique names,
/// positive period and shutdown timeouts. Errors name the child and key.
result<bool> validate(const supervisor_spec& spec);

/// Called whenever a child starts or restarts, with its name and new handle,
/// so callers that address roles by name reach the new actor.
using child_started_fn =
  std::function<void(const std::string& name, const caf::actor& handle)>;

/// What a supervisor tells its owner. Hooks run inside the supervisor, so
/// they must be quick and thread-safe; every member may be empty.
struct supervisor_hooks {
  supervisor_hooks() = default;

  supervisor_hooks(child_started_fn f) : on_start(std::move(f)) {}

  child_started_fn on_start;
  /// Every change of a child: started, restarting, stopped.
  std::function<void(const child_status&)> on_status;
  /// The supervisor is past its intensity and gives up with `reason` (it
  /// then stops its children and exits with that reason).
  std::function<void(const std::string& supervisor, const caf::error& reason)>
    on_give_up;
};

/// One child as the supervisor tracks it.
struct child_slot {
  child_spec spec;
  /// Null while the child is not running.
  caf::actor handle;
  /// Restarts so far (not counting the first start).
  uint32_t restarts = 0;
  /// Started at least once (a temporary child that ended stays down).
  bool started = false;
  /// An exit message went out; its down message is expected.
  bool stopping = false;
  /// Bumped at every start, so a stale kill timer finds nothing to kill.
  uint64_t generation = 0;
  /// Why the last instance ended (empty before the first end).
  std::string last_exit;
  /// As reported in `child_status::state`.
  std::string state;
};

/// State of a supervisor.
struct supervisor_state {
  supervisor_spec spec;
  supervisor_hooks hooks;
  std::vector<child_slot> children;
  /// Times of recent restarts, oldest first (for the intensity check).
  std::deque<std::chrono::steady_clock::time_point> restart_times;
  /// Children still to stop, in order; `after_stop` runs when all are down.
  std::deque<size_t> stop_queue;
  std::function<void()> after_stop;
  /// Children to (re)start when the backoff timer fires.
  std::vector<size_t> pending_starts;
  /// Set once the supervisor is stopping for good.
  bool shutting_down = false;
  /// The exit reason children get when the supervisor stops for good.
  caf::error stop_reason;

  static inline const char* name = "troupe.supervisor";
};

/// Spawns as a supervisor: starts the children of `spec` in order and keeps
/// them running by its policy. Answers `(status_atom)` with one
/// `child_status` per child.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_spec spec, supervisor_hooks hooks);

} // namespace troupe
