#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"
#include "guardrail/approval.hpp"
#include "tools/cache.hpp"
#include "tools/tool.hpp"
#include "tools/worker_pool.hpp"

namespace troupe {

/// The group of an engine's catalog that holds tools served by other nodes
/// (filled by the cluster's tool router).
inline constexpr const char* remote_tool_group = "cluster";

/// Counters of a node's tool calls, for metrics.
struct tool_counters {
  std::atomic<uint64_t> calls{0};
  /// Calls that ended with a failed result (any reason).
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> cancelled{0};
  /// Calls refused because the worker pool's queue was full.
  std::atomic<uint64_t> overloaded{0};
};

/// What a tool executor works with. Lives outside the actor, so a restarted
/// executor keeps the cache, the pool and tools registered at run time.
struct tool_executor_setup {
  /// The tools in force (built-in, embedder's, MCP servers').
  std::shared_ptr<tools::catalog> catalog;
  /// Checks the guardrail's approval of every call before it runs.
  std::shared_ptr<guardrail::approval_verifier> verifier;
  /// Runs the calls of blocking tools.
  std::shared_ptr<tools::worker_pool> pool;
  /// Results of cacheable tools; null: no caching.
  std::shared_ptr<tools::result_cache> cache;
  /// Outcomes of calls with an idempotency key ("1"/"0" for ok, then the
  /// output), so a retried call is answered, not run again; null: none.
  std::shared_ptr<tools::result_cache> done_keys;
  /// How long an outcome is kept for retries.
  std::chrono::milliseconds done_ttl{600000};
  std::shared_ptr<tool_counters> counters = std::make_shared<tool_counters>();
};

/// A call running off the executor's thread (worker pool or MCP server).
struct running_call {
  caf::typed_response_promise<tool_result> promise;
  std::string call_id;
  std::string name;
  uint64_t task_id = 0;
  std::shared_ptr<tools::cancellation> cancel;
  /// Cache key and TTL if the result may be cached.
  std::string cache_key;
  uint32_t cache_ttl_ms = 0;
  uint32_t timeout_ms = 0;
  /// Its idempotency key (empty: none).
  std::string idempotency_key;
  /// Retries of the same call that arrived while it ran: answered with its
  /// result, under their own call ids.
  std::vector<std::pair<caf::typed_response_promise<tool_result>, std::string>>
    waiters;
  /// Its entry in `tool_executor_state::deadlines`.
  std::multimap<std::chrono::steady_clock::time_point, uint64_t>::iterator
    deadline;
};

/// The executor as it sees itself: its public interface plus the messages
/// only it sends itself (others hold the public type, and a `tick` from
/// anyone else is ignored).
using local_tool_executor_actor = tool_executor_actor::extend<
  /// A call that ran off the executor's thread finished.
  caf::reacts_to<done_atom, uint64_t, tool_result>,
  /// Time to fail the calls past their deadlines.
  caf::reacts_to<tick_atom>>;

/// State of a local tool executor.
struct tool_executor_state {
  std::shared_ptr<const tool_executor_setup> setup;
  std::unordered_map<uint64_t, running_call> running;
  /// Running calls by idempotency key.
  std::unordered_map<std::string, uint64_t> running_keys;
  /// Running calls by deadline. One timer per executor checks them (every
  /// `tick` while calls run), not one timer per call: a CAF timer wakes
  /// its clock thread, which cost more than a trivial call.
  std::multimap<std::chrono::steady_clock::time_point, uint64_t> deadlines;
  bool ticking = false;
  /// Ids of running calls are random: `done` messages name them, and an
  /// executor published to other nodes must not let a peer that guesses an
  /// id complete someone else's call.
  std::mt19937_64 ids{std::random_device{}()};
  /// Drills only: crashes on configured calls.
  fault_injector faults;

  static inline const char* name = "troupe.tool_executor";
};

/// Spawns a tool executor for the tools of `setup->catalog`. A call runs
/// only with a valid approval from the guardrail (any other is refused with
/// `forbidden`) and with arguments that pass the tool's JSON Schema. Then:
/// - a cached result is served if the tool allows caching;
/// - an immediate tool runs right here;
/// - a blocking tool runs on the worker pool, an async one (MCP) where it
///   lives; each with a deadline (the tool's `timeout_ms`), after which the
///   call fails with `timeout` and is cancelled. The calls of one step run
///   in parallel, and each reports its own result or error.
/// If the executor stops or crashes, every call still running fails with
/// `role_down` at once.
local_tool_executor_actor::behavior_type tool_executor_role(
  local_tool_executor_actor::stateful_pointer<tool_executor_state> self,
  std::shared_ptr<const tool_executor_setup> setup, fault_spec faults);

} // namespace troupe
