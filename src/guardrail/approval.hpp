#pragma once

// Unforgeable approvals for tool calls: the guardrail signs each call it
// allows (HMAC-SHA256 with a key only the engine and its tool executors
// hold); an executor runs a call only with a valid, unexpired approval it
// has not seen before.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <functional>
#include <queue>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::guardrail {

/// `n` bytes as 2n lowercase hex digits.
std::string to_hex(const unsigned char* data, size_t n);

/// A 256-bit signing key.
class approval_key {
public:
  /// A fresh random key (from the OS's CSPRNG).
  static approval_key random();

  /// Parses 64 hex digits (e.g. from $TROUPE_APPROVAL_KEY).
  static result<approval_key> from_hex(std::string_view hex);

  std::string hex() const;

  const std::array<unsigned char, 32>& bytes() const {
    return bytes_;
  }

private:
  std::array<unsigned char, 32> bytes_{};
};

/// Signs `inv` (its call, task, principal) with an approval valid until
/// `expires_ms`, under a fresh nonce.
approval sign(const approval_key& key, const tool_invocation& inv,
              int64_t expires_ms);

/// The key in TROUPE_APPROVAL_KEY (64 hex digits), nothing if unset, or
/// why it is unusable. Every node of a cluster holds the same one.
result<std::optional<approval_key>> approval_key_from_env();

/// Checks approvals; thread-safe (the executor's workers share one).
class approval_verifier {
public:
  explicit approval_verifier(approval_key key) : key_(key) {}

  /// Accepts `inv` once: a bad signature (a forged or altered call), an
  /// expired approval or one seen before (a replay) is `forbidden`, with
  /// the reason.
  result<bool> verify(const tool_invocation& inv, int64_t now_ms);

private:
  approval_key key_;
  std::mutex mtx_;
  /// Nonces seen (forgotten once expired).
  std::unordered_set<uint64_t> seen_;
  /// The same by expiry, soonest first: pruning pops expired ones instead
  /// of scanning every nonce.
  std::priority_queue<std::pair<int64_t, uint64_t>,
                      std::vector<std::pair<int64_t, uint64_t>>,
                      std::greater<>>
    expiries_;
};

} // namespace troupe::guardrail
