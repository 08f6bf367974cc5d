#pragma once

// Bytes as lower-case hex digits: how BYTEA values travel to PostgreSQL in
// text form (`\x…` for a parameter, plain for `decode(…, 'hex')`). Private
// to the store's PostgreSQL code.

#include <string>
#include <string_view>

namespace troupe::store {

/// `x` as two hex digits a byte, after `prefix`.
inline std::string hex(std::string_view x, std::string_view prefix = {}) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out{prefix};
  out.reserve(prefix.size() + 2 * x.size());
  for (unsigned char c : x) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

} // namespace troupe::store
