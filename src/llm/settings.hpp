#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/keys.hpp"
#include "core/result.hpp"

namespace troupe::llm {

/// One model provider (key `provider`, or `providers.<name>` for the
/// fallback chain).
struct provider_config {
  /// offline (the rule-based planner), openai (any OpenAI-compatible Chat
  /// Completions endpoint) or anthropic (Messages API).
  std::string kind = "offline";
  std::string model;
  /// Default: https://api.openai.com/v1 or https://api.anthropic.com/v1.
  std::string base_url;
  /// The environment variable holding the API key (default OPENAI_API_KEY
  /// or ANTHROPIC_API_KEY); "" for a server that needs none (e.g. a local
  /// vLLM or Ollama). The key is never read from a file.
  std::optional<std::string> api_key_env;
  uint32_t max_tokens = 1024;
  /// Stream the answer (SSE).
  bool stream = true;
  std::chrono::milliseconds connect_timeout{10000};
  /// One model call, end to end.
  std::chrono::milliseconds timeout{120000};
  /// Retries of a call after a network error, 429, 5xx or 529, with
  /// exponential backoff and jitter from `retry_base`, honouring
  /// Retry-After up to `retry_max`.
  uint32_t max_retries = 3;
  std::chrono::milliseconds retry_base{500};
  std::chrono::milliseconds retry_max{30000};
  /// Calls in flight at once (more wait their turn).
  uint32_t max_concurrency = 64;
  /// After this many failed calls in a row the circuit opens: calls fail at
  /// once (and the task falls back) until `breaker_cooldown` has passed.
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_cooldown{30000};

  /// The API key variable in effect ("" for none).
  std::string key_variable() const;
  /// The base URL in effect.
  std::string url() const;
};

/// Most providers in `provider.fallback`.
constexpr size_t max_provider_fallbacks = 4;

/// The primary provider (key `provider`): a provider and the chain the
/// planner falls back to, in order, when the one before fails or is down:
/// "offline" or a name from `providers` (in the tree: provider.1, …).
struct primary_provider : provider_config {
  std::vector<std::string> fallback{"offline"};
};

/// The declarations of a provider's keys.
const keys<provider_config>& provider_keys();

/// The declarations of the `provider` keys (a provider's, and `fallback`).
const keys<primary_provider>& primary_keys();

/// Checks what the declarations cannot of `p` at `key` ("provider",
/// "providers.<name>"): kind, model, URL. Pure.
result<bool> validate(const provider_config& p, const std::string& key);

/// Checks what `p` needs of the process's environment: its API key
/// variable is set.
result<bool> preflight(const provider_config& p, const std::string& key);

} // namespace troupe::llm
