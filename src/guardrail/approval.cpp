#include "guardrail/approval.hpp"

#include <array>
#include <charconv>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace troupe::guardrail {

std::string to_hex(const unsigned char* data, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xF];
  }
  return out;
}

namespace {

/// What the MAC covers; fields are length-prefixed so none can bleed into
/// the next.
std::string signed_text(const tool_invocation& inv, int64_t expires_ms,
                        uint64_t nonce) {
  std::string out;
  out.reserve(inv.call.name.size() + inv.call.id.size() +
              inv.call.arguments.size() + inv.principal.size() +
              inv.idempotency_key.size() + 112);
  char num[24];
  auto number = [&](uint64_t x) {
    auto end = std::to_chars(num, num + sizeof(num), x).ptr;
    return std::string_view{num, static_cast<size_t>(end - num)};
  };
  auto field = [&](std::string_view x) {
    char len[24];
    auto end = std::to_chars(len, len + sizeof(len), x.size()).ptr;
    out.append(len, end);
    out += ':';
    out += x;
  };
  field(inv.call.name);
  field(inv.call.id);
  field(inv.call.arguments);
  field(number(inv.task_id));
  field(inv.principal);
  // Signed as text: a negative expiry keeps its minus sign.
  field(std::to_string(expires_ms));
  field(number(nonce));
  field(inv.idempotency_key);
  return out;
}

/// An HMAC-SHA256 context per thread, keyed once: OpenSSL 3's one-shot
/// HMAC() looks the digest up and keys a new context on every call, which
/// cost a tenth of the agent loop's CPU.
struct mac_context {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  std::array<unsigned char, 32> key{};
  bool keyed = false;

  ~mac_context() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

std::string mac_of(const approval_key& key, const std::string& text) {
  thread_local mac_context mc;
  if (!mc.ctx) {
    mc.mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    mc.ctx = mc.mac ? EVP_MAC_CTX_new(mc.mac) : nullptr;
    if (!mc.ctx)
      throw std::runtime_error("OpenSSL has no HMAC");
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_END};
  // A null key re-initialises with the key already set.
  bool same = mc.keyed && mc.key == key.bytes();
  if (EVP_MAC_init(mc.ctx, same ? nullptr : key.bytes().data(),
                   same ? 0 : key.bytes().size(), same ? nullptr : params) != 1)
    throw std::runtime_error("cannot key HMAC-SHA256");
  mc.key = key.bytes();
  mc.keyed = true;
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_update(mc.ctx, reinterpret_cast<const unsigned char*>(text.data()),
                     text.size()) != 1 ||
      EVP_MAC_final(mc.ctx, out, &len, sizeof(out)) != 1)
    throw std::runtime_error("HMAC-SHA256 failed");
  return to_hex(out, len);
}

/// Unique per approval: a random start drawn once, then counted up. (The
/// MAC makes approvals unforgeable; the nonce only has to never repeat.)
uint64_t fresh_nonce() {
  static const uint64_t base = [] {
    uint64_t n = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&n), sizeof(n)) != 1)
      n = static_cast<uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count());
    return n;
  }();
  static std::atomic<uint64_t> counter{0};
  return base + counter.fetch_add(1, std::memory_order_relaxed);
}

} // namespace

approval_key approval_key::random() {
  approval_key k;
  if (RAND_bytes(k.bytes_.data(), static_cast<int>(k.bytes_.size())) != 1)
    throw std::runtime_error("cannot draw a random approval key");
  return k;
}

result<approval_key> approval_key::from_hex(std::string_view hex) {
  auto bad = failure{errc::invalid_config,
                     "an approval key must be 64 hex digits"};
  if (hex.size() != 64)
    return bad;
  approval_key k;
  for (size_t i = 0; i < 32; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9')
        return c - '0';
      if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
      if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
      return -1;
    };
    auto hi = nib(hex[2 * i]);
    auto lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return bad;
    k.bytes_[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return k;
}

std::string approval_key::hex() const {
  return to_hex(bytes_.data(), bytes_.size());
}

approval sign(const approval_key& key, const tool_invocation& inv,
              int64_t expires_ms) {
  approval a;
  a.expires_ms = expires_ms;
  a.nonce = fresh_nonce();
  a.mac = mac_of(key, signed_text(inv, a.expires_ms, a.nonce));
  return a;
}

result<std::optional<approval_key>> approval_key_from_env() {
  auto v = std::getenv("TROUPE_APPROVAL_KEY");
  if (!v || !*v)
    return std::optional<approval_key>{};
  auto key = approval_key::from_hex(v);
  if (!key)
    return failure{errc::invalid_config,
                   "TROUPE_APPROVAL_KEY: " + key.error().message};
  return std::optional<approval_key>{*key};
}

result<bool> approval_verifier::verify(const tool_invocation& inv,
                                       int64_t now_ms) {
  auto refuse = [&](const std::string& why) {
    return failure{errc::forbidden, "tool call '" + inv.call.name +
                                      "' refused: " + why};
  };
  auto& g = inv.grant;
  if (g.mac.empty())
    return refuse("it carries no approval from the guardrail");
  auto expected = mac_of(key_, signed_text(inv, g.expires_ms, g.nonce));
  if (expected.size() != g.mac.size() ||
      CRYPTO_memcmp(expected.data(), g.mac.data(), expected.size()) != 0)
    return refuse("its approval is not valid for this call");
  if (g.expires_ms <= now_ms)
    return refuse("its approval has expired");
  std::lock_guard<std::mutex> guard{mtx_};
  while (!expiries_.empty() && expiries_.top().first <= now_ms) {
    seen_.erase(expiries_.top().second);
    expiries_.pop();
  }
  if (!seen_.insert(g.nonce).second)
    return refuse("its approval was already used");
  expiries_.emplace(g.expires_ms, g.nonce);
  return true;
}

} // namespace troupe::guardrail
