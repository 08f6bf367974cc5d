#pragma once

// The guardrail's rules as a file (config/guardrail.rules), and the holder
// the guardrail reads them from: reloaded on request, without stopping, and
// kept as they were when the new file has an error.

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "guardrail/input_filter.hpp"
#include "guardrail/output_filter.hpp"
#include "guardrail/settings.hpp"

namespace troupe::guardrail {

/// Input deny patterns and output rules.
struct rule_set {
  std::vector<pattern> input;
  std::vector<output_rule> output;
};

/// Parses the rules format, one rule per line ('#' starts a comment):
///
///     input  <name> <regex>
///     output <name> <block|redact|flag> [check=luhn|ssn] <regex>
///
/// The regex is the rest of the line. Errors name `origin`, the line and
/// what is wrong with it (including a regex that does not compile).
result<rule_set> parse_rules(std::string_view text, const std::string& origin);

/// Reads and parses a rules file.
result<rule_set> load_rules(const std::filesystem::path& file);

/// The compiled checks the guardrail applies.
struct compiled_rules {
  std::shared_ptr<const input_filter> input;
  std::shared_ptr<const output_filter> output;
  /// How many rules (input + output).
  size_t count = 0;
};

/// Compiles `rules` with the input size limit `max_input_bytes`.
result<compiled_rules> compile(const rule_set& rules, size_t max_input_bytes);

/// The current rules, shared by the guardrail and its successors (so a
/// restart keeps reloaded rules); thread-safe.
class rules_holder {
public:
  rules_holder(compiled_rules initial, std::filesystem::path file,
               size_t max_input_bytes)
    : current_(std::move(initial)),
      file_(std::move(file)),
      max_input_bytes_(max_input_bytes) {}

  compiled_rules current() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }

  /// Reads the rules file again; on any error the current rules stay and
  /// the error says where. Returns the number of rules now in force.
  result<size_t> reload();

  const std::filesystem::path& file() const {
    return file_;
  }

private:
  mutable std::mutex mtx_;
  compiled_rules current_;
  std::filesystem::path file_;
  size_t max_input_bytes_;
};

/// The rules `cfg` puts in force: its rules file, else the built-in output
/// rules and `deny_patterns`; compiled and held for reloads.
result<std::shared_ptr<rules_holder>> load_configured(const settings& cfg);

/// `text` as it may be stored (`memory.redact_on_store`): masked by the
/// output rules that redact, refused (`rejected`) if one that blocks
/// matches.
result<std::string> storable(const compiled_rules& rules,
                             const std::string& text);

} // namespace troupe::guardrail
