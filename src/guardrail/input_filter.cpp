#include "guardrail/input_filter.hpp"

#include <cstring>


namespace troupe::guardrail {

std::vector<pattern> input_filter_config::default_deny_patterns() {
  return {
    {"script_tag", R"((?i)<\s*/?\s*script\b)"},
    {"eval_call", R"((?i)\beval\s*\()"},
    {"exec_call", R"((?i)\bexec\s*\()"},
    {"python_import", R"((?i)__import__\s*\()"},
    {"javascript_url", R"((?i)\bjavascript\s*:)"},
    {"sql_injection", R"((?i)'\s*(?:or|and)\s+'?[0-9a-z]+'?\s*=\s*'?[0-9a-z]+|;\s*drop\s+table\b|\bunion\s+select\b)"},
    {"prompt_injection",
     R"((?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:previous|prior|above|earlier|system)\s+(?:instructions|prompts?|rules|messages)|\byou\s+are\s+now\s+(?:a|an|in)\s+|\b(?:reveal|print|show)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+)?prompt\b|\bdeveloper\s+mode\b|\bjailbreak\b)"},
  };
}

result<bool> validate(const input_filter_config& cfg) {
  if (cfg.max_input_bytes == 0)
    return failure{errc::invalid_config,
                   "guardrail.max_input_bytes must be > 0, got 0"};
  if (auto set = pattern_set::compile(cfg.deny_patterns, "guardrail"); !set)
    return set.error();
  return true;
}

result<std::shared_ptr<const input_filter>>
input_filter::make(const input_filter_config& cfg) {
  if (cfg.max_input_bytes == 0)
    return failure{errc::invalid_config,
                   "guardrail.max_input_bytes must be > 0, got 0"};
  auto set = pattern_set::compile(cfg.deny_patterns, "guardrail");
  if (!set)
    return set.error();
  return std::shared_ptr<const input_filter>{
    std::make_shared<input_filter>(cfg.max_input_bytes, std::move(*set))};
}

input_filter::input_filter(size_t max_bytes,
                           std::shared_ptr<const pattern_set> patterns)
  : max_bytes_(max_bytes), patterns_(std::move(patterns)) {}

input_filter::~input_filter() = default;

verdict input_filter::check(std::string_view text) const {
  auto deny = [](std::string reason) {
    return verdict{verdict_action::deny, std::move(reason), {}};
  };
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return deny("input is empty");
  if (text.size() > max_bytes_)
    return deny("input is " + std::to_string(text.size()) +
                " bytes, the limit is " + std::to_string(max_bytes_));
  if (!valid_utf8(text))
    return deny("input is not valid UTF-8");
  // Every pattern in one linear pass.
  if (auto hits = patterns_->matching(text); !hits.empty())
    return deny("input matches the deny pattern '" +
                patterns_->name(static_cast<size_t>(hits.front())) + "'");
  return verdict{verdict_action::allow, {}, {}};
}

bool valid_utf8(std::string_view text) noexcept {
  auto s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // ASCII runs, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s + i, 8);
      if (word & 0x8080808080808080ull)
        break;
      i += 8;
    }
    if (i >= n)
      break;
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n)
      return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

} // namespace troupe::guardrail
