#pragma once

// Named RE2 patterns matched together: one linear-time pass (RE2::Set) says
// which patterns occur; only those are then run alone to find where.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace re2 {
class RE2;
} // namespace re2

namespace troupe::guardrail {

/// A named pattern (RE2 syntax: linear time on any input).
struct pattern {
  std::string name;
  std::string regex;
};

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

  /// Every non-overlapping match of pattern `i` in `text`: offset, length.
  std::vector<std::pair<size_t, size_t>> find_all(size_t i,
                                                  std::string_view text) const;

  const std::string& name(size_t i) const {
    return names_[i];
  }

  size_t size() const {
    return names_.size();
  }

  pattern_set();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::vector<std::string> names_;
};

} // namespace troupe::guardrail
