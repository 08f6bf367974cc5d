#include "guardrail/output_filter.hpp"

#include <algorithm>

#include "core/json.hpp"

namespace troupe::guardrail {

const char* to_string(rule_action x) noexcept {
  switch (x) {
    case rule_action::block:
      return "block";
    case rule_action::redact:
      return "redact";
    case rule_action::flag:
      return "flag";
  }
  return "unknown";
}

std::vector<output_rule> default_output_rules() {
  using a = rule_action;
  using c = rule_check;
  return {
    {"private_key", R"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----)", a::block,
     c::none},
    {"email", R"([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})",
     a::redact, c::none},
    // Cards before phones: a card number would also look like a phone.
    {"card", R"(\b[0-9](?:[ \-]?[0-9]){12,18}\b)", a::redact, c::luhn},
    {"ssn", R"(\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b)", a::redact, c::ssn},
    // +CC …, 00CC …, and (NNN) NNN-NNNN / NNN-NNN-NNNN / NNN.NNN.NNNN.
    {"phone",
     R"((?:\+|\b00)[1-9][0-9]{0,2}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,5}\b|(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[.\-])[0-9]{3}[.\-][0-9]{4}\b)",
     a::redact, c::none},
    {"aws_access_key", R"(\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)", a::redact, c::none},
    {"bearer_token", R"((?i)\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*)", a::redact,
     c::none},
    {"api_key",
     R"(\b(?:sk-(?:ant-)?[A-Za-z0-9_\-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35})\b)",
     a::redact, c::none},
    {"prompt_injection",
     R"((?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts?|rules|messages)|\byou\s+are\s+now\s+(?:a|an|in)\b|\bnew\s+instructions\s*:|\breveal\s+(?:your|the)\s+(?:system\s+)?prompt\b)",
     a::flag, c::none},
  };
}

bool luhn_valid(std::string_view text) noexcept {
  int sum = 0;
  int count = 0;
  bool twice = false;
  for (auto it = text.rbegin(); it != text.rend(); ++it) {
    char ch = *it;
    if (ch == ' ' || ch == '-')
      continue;
    if (ch < '0' || ch > '9')
      return false;
    int d = ch - '0';
    if (twice) {
      d *= 2;
      if (d > 9)
        d -= 9;
    }
    sum += d;
    twice = !twice;
    ++count;
  }
  return count >= 13 && count <= 19 && sum % 10 == 0;
}

namespace {

bool ssn_valid(std::string_view s) noexcept {
  // NNN-NN-NNNN
  auto area = s.substr(0, 3);
  auto group = s.substr(4, 2);
  auto serial = s.substr(7, 4);
  return area != "000" && area != "666" && area[0] != '9' && group != "00" &&
         serial != "0000";
}

bool passes(rule_check c, std::string_view match) {
  switch (c) {
    case rule_check::none:
      return true;
    case rule_check::luhn:
      return luhn_valid(match);
    case rule_check::ssn:
      return match.size() == 11 && ssn_valid(match);
  }
  return true;
}

} // namespace

result<std::shared_ptr<const output_filter>>
output_filter::make(std::vector<output_rule> rules) {
  std::vector<pattern> patterns;
  for (auto& r : rules)
    patterns.push_back({r.name, r.regex});
  auto set = pattern_set::compile(patterns, "output rule");
  if (!set)
    return set.error();
  return std::shared_ptr<const output_filter>{
    std::make_shared<output_filter>(std::move(rules), std::move(*set))};
}

output_filter::output_filter(std::vector<output_rule> rules,
                             std::shared_ptr<const pattern_set> set)
  : rules_(std::move(rules)), set_(std::move(set)) {}

output_check output_filter::check(std::string_view text) const {
  output_check out;
  struct cut {
    size_t begin;
    size_t end;
    size_t rule;
  };
  std::vector<cut> redact;
  // One pass finds every rule's matches; most texts have none.
  auto found = set_->find_all(text);
  for (size_t idx = 0; idx < rules_.size(); ++idx) {
    if (found[idx].empty())
      continue;
    auto& rule = rules_[idx];
    bool hit = false;
    for (auto [off, len] : found[idx]) {
      if (!passes(rule.check, text.substr(off, len)))
        continue;
      hit = true;
      if (rule.action == rule_action::redact)
        redact.push_back({off, off + len, idx});
      else
        break;
    }
    if (!hit)
      continue;
    out.matched.push_back(rule.name);
    if (rule.action == rule_action::flag)
      out.flags.push_back(rule.name);
    else if (rule.action == rule_action::block && out.blocked_by.empty())
      out.blocked_by = rule.name;
  }
  if (out.blocked()) {
    out.text.clear();
    return out;
  }
  // Mask the matches, earlier first; of overlapping ones the first rule
  // (in rule order) at the earliest position wins.
  std::sort(redact.begin(), redact.end(), [](const cut& x, const cut& y) {
    return x.begin != y.begin ? x.begin < y.begin : x.rule < y.rule;
  });
  size_t pos = 0;
  for (auto& s : redact) {
    if (s.begin < pos)
      continue;
    out.text.append(text.substr(pos, s.begin - pos));
    out.text += "[REDACTED:" + rules_[s.rule].name + "]";
    pos = s.end;
  }
  out.text.append(text.substr(pos));
  return out;
}

namespace {

/// Values come from parse_json: at most 64 levels deep.
void scrub_strings(const output_filter& f, json& x) {
  if (x.is_string())
    x = f.scrub(x.get_ref<const std::string&>());
  else if (x.is_structured())
    for (auto& y : x)
      scrub_strings(f, y);
}

} // namespace

std::string output_filter::scrub_json(std::string_view text) const {
  // Most texts have nothing to mask: one scan decides.
  if (auto c = check(text); !c.blocked() && !c.redacted())
    return std::string{text};
  auto parsed = parse_json(text, "the text", {.unique_keys = false});
  if (!parsed)
    return scrub(text);
  scrub_strings(*this, *parsed);
  return dump(*parsed);
}

std::string output_filter::scrub(std::string_view text) const {
  auto r = check(text);
  if (r.blocked())
    return "[WITHHELD:" + r.blocked_by + "]";
  return std::move(r.text);
}

} // namespace troupe::guardrail
