#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/types.hpp"
#include "guardrail/pattern_set.hpp"


namespace troupe::guardrail {


/// Input checks applied to every task before anything runs.
struct input_filter_config {
  /// Longest accepted input, in bytes.
  size_t max_input_bytes = 16 * 1024;
  /// Inputs matching any of these are denied.
  std::vector<pattern> deny_patterns = default_deny_patterns();

  /// Script tags, code-injection calls (`eval(`, `exec(`, `__import__(`),
  /// `javascript:` URLs, SQL injection and common prompt-injection phrasings.
  static std::vector<pattern> default_deny_patterns();
};

/// Checks that `cfg` is usable: limits > 0, every pattern compiles.
result<bool> validate(const input_filter_config& cfg);

/// Compiled input checks. Thread-compatible: `check` is const.
class input_filter {
public:
  /// Compiles `cfg`; fails with `invalid_config` naming the bad pattern.
  static result<std::shared_ptr<const input_filter>>
  make(const input_filter_config& cfg);

  ~input_filter();

  /// Allows or denies `text`: empty, too long, invalid UTF-8 or matching a
  /// deny pattern is denied with a reason that says which.
  verdict check(std::string_view text) const;

  input_filter(size_t max_bytes, std::shared_ptr<const pattern_set> patterns);

private:
  size_t max_bytes_;
  /// All deny patterns, matched in one pass.
  std::shared_ptr<const pattern_set> patterns_;
};

/// Returns true if `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text) noexcept;

} // namespace troupe::guardrail
