#pragma once

// Named patterns matched together. RE2 is the authority on what a pattern
// means (its syntax, linear time on any input); Hyperscan (Intel's
// multi-pattern engine, linear time as well) makes the one pass over the
// text that says which patterns occur and where their matches end, and RE2
// then confirms each hit on a window around it. A pattern Hyperscan cannot
// compile is matched by RE2 alone, so every RE2 pattern works.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace troupe::guardrail {

/// A named pattern (RE2 syntax: linear time on any input).
struct pattern {
  std::string name;
  std::string regex;
};

/// Offset and length of one match.
using span = std::pair<size_t, size_t>;

class pattern_set {
public:
  /// Compiles `patterns`; fails with `invalid_config` naming the first that
  /// has no name or does not compile. `what` prefixes errors ("guardrail").
  static result<std::shared_ptr<const pattern_set>>
  compile(const std::vector<pattern>& patterns, const std::string& what);

  ~pattern_set();

  /// Indices (into the compiled list) of the patterns found in `text`, in
  /// ascending order.
  std::vector<int> matching(std::string_view text) const;

  /// Every non-overlapping match of every pattern in `text` (RE2's
  /// leftmost-first matches, scanning on after each), indexed by pattern.
  std::vector<std::vector<span>> find_all(std::string_view text) const;

  const std::string& name(size_t i) const {
    return names_[i];
  }

  size_t size() const {
    return names_.size();
  }

  /// How many patterns the fast pass covers (the rest run on RE2 alone).
  size_t accelerated() const;

  pattern_set();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::vector<std::string> names_;
};

} // namespace troupe::guardrail
