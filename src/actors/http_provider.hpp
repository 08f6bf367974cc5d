#pragma once

// A model behind an HTTP API (OpenAI-compatible or Anthropic) as a provider
// role. The calls go out on the shared libcurl I/O thread; their answers
// come back to the actor as messages, so no scheduler thread waits on the
// network. The role retries transient failures with backoff (honouring
// Retry-After), caps its calls in flight, and opens a circuit after
// repeated failures so tasks fall back at once instead of waiting.

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/protocol.hpp"
#include "actors/settings.hpp"
#include "core/faults.hpp"
#include "llm/http_client.hpp"
#include "llm/wire.hpp"

namespace troupe {

using http_ok_atom = caf::atom_constant<caf::atom("http_ok")>;
using http_fail_atom = caf::atom_constant<caf::atom("http_fail")>;

/// The provider interface plus the answers of its own HTTP calls.
using http_provider_actor = streaming_provider_actor::extend<
  /// Call N succeeded.
  caf::reacts_to<http_ok_atom, uint64_t, chat_response>,
  /// Call N failed: the error, the wait Retry-After asks for (ms, -1 if
  /// none), and whether trying again may help.
  caf::reacts_to<http_fail_atom, uint64_t, caf::error, int64_t, bool>,
  /// Time to try call N again.
  caf::reacts_to<retry_atom, uint64_t>>;

struct http_provider_state {
  std::string role;
  llm::provider_config settings;
  llm::wire_format format = llm::wire_format::openai;
  /// From the environment at spawn; only ever in request headers.
  std::string api_key;
  std::shared_ptr<llm::http_client> client;
  fault_injector faults;

  struct call {
    caf::typed_response_promise<chat_response> promise;
    std::string body;
    /// The request had an output schema: a `final_answer` call is the
    /// answer (Anthropic's forced tool).
    bool structured = false;
    /// Where the answer's text streams to (null: nowhere).
    caf::actor sink;
    uint32_t attempt = 0;
  };
  std::unordered_map<uint64_t, call> calls;
  uint64_t next_call = 1;
  std::deque<uint64_t> waiting;
  uint32_t running = 0;
  /// Circuit breaker: failed calls in a row, and until when it is open.
  uint32_t failures = 0;
  std::chrono::steady_clock::time_point open_until{};
  bool probing = false;

  static inline const char* name = "troupe.http_provider";
};

/// Spawns an HTTP provider for `settings` (kind openai or anthropic) as
/// `role` ("provider", "provider.1"…), its key read from the variable
/// `settings.key_variable()`.
http_provider_actor::behavior_type
http_provider(http_provider_actor::stateful_pointer<http_provider_state> self,
              std::string role, llm::provider_config settings,
              std::shared_ptr<llm::http_client> client, fault_spec faults);

/// Replaces every occurrence of `secret` in `text` (an error message that
/// might echo it) with "[REDACTED]".
std::string without_secret(std::string text, const std::string& secret);

} // namespace troupe
