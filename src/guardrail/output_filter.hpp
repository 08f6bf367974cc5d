#pragma once

// Output filters: personal data and secrets in a final answer or a tool
// result are blocked, redacted (masked in place) or flagged, rule by rule;
// tool results that address the model (indirect prompt injection) are
// flagged. All rules are matched in one linear pass (RE2::Set); only rules
// that matched are run again to find and check each occurrence.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "guardrail/pattern_set.hpp"

namespace troupe::guardrail {

/// What a rule does with a match.
enum class rule_action : uint8_t {
  /// The whole text is withheld.
  block,
  /// The match is replaced by "[REDACTED:<rule>]".
  redact,
  /// The text passes unchanged, with the rule's name among the flags.
  flag,
};

/// Returns "block", "redact" or "flag".
const char* to_string(rule_action x) noexcept;

/// Extra check a match must pass, so ordinary numbers are not flagged.
enum class rule_check : uint8_t {
  none,
  /// 13-19 digits with a valid Luhn checksum (payment cards).
  luhn,
  /// A US SSN that can exist: area not 000, 666 or 9xx; group and serial
  /// not zero.
  ssn,
};

struct output_rule {
  std::string name;
  std::string regex;
  rule_action action = rule_action::redact;
  rule_check check = rule_check::none;
};

/// E-mail addresses, phone numbers (international and North American
/// formats), payment cards (Luhn), US SSNs, API keys and tokens (redact);
/// private-key blocks (block); instructions aimed at the model (flag).
std::vector<output_rule> default_output_rules();

/// True if the digits in `text` (spaces and dashes ignored) number 13-19
/// and pass the Luhn check.
bool luhn_valid(std::string_view text) noexcept;

/// The outcome of checking one text.
struct output_check {
  /// Set if a `block` rule matched: the rule's name.
  std::string blocked_by;
  /// The text with every `redact` match masked (the input if none).
  std::string text;
  /// Names of the rules that matched, in rule order (each once).
  std::vector<std::string> matched;
  /// Names of the `flag` rules that matched.
  std::vector<std::string> flags;

  bool blocked() const {
    return !blocked_by.empty();
  }

  bool redacted() const {
    return !blocked() && matched.size() > flags.size();
  }
};

class output_filter {
public:
  /// Compiles `rules`; errors name the rule.
  static result<std::shared_ptr<const output_filter>>
  make(std::vector<output_rule> rules);

  output_check check(std::string_view text) const;

  /// `text` as it may leave the engine: `redact` matches masked, and a text
  /// a `block` rule matches replaced whole by "[WITHHELD:<rule>]".
  std::string scrub(std::string_view text) const;

  /// `scrub` for a JSON text: applied to every string in it (not to keys),
  /// so the text stays JSON. Text that is not JSON is scrubbed whole.
  std::string scrub_json(std::string_view text) const;

  output_filter(std::vector<output_rule> rules,
                std::shared_ptr<const pattern_set> set);

private:
  std::vector<output_rule> rules_;
  std::shared_ptr<const pattern_set> set_;
};

} // namespace troupe::guardrail
