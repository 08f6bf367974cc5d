#include "guardrail/rules.hpp"

#include <fstream>
#include <sstream>

namespace troupe::guardrail {

namespace {

/// Splits off the next whitespace-separated word of `rest`.
std::string_view next_word(std::string_view& rest) {
  auto start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  auto end = rest.find_first_of(" \t");
  auto word = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{}
                                       : rest.substr(end);
  return word;
}

std::string_view trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

} // namespace

result<rule_set> parse_rules(std::string_view text, const std::string& origin) {
  rule_set out;
  size_t line_no = 0;
  std::istringstream in{std::string{text}};
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    auto bad = [&](const std::string& why) {
      return failure{errc::invalid_config, origin + ":" +
                                             std::to_string(line_no) + ": " +
                                             why};
    };
    std::string_view rest = line;
    auto kind = next_word(rest);
    if (kind.empty() || kind[0] == '#')
      continue;
    auto name = std::string{next_word(rest)};
    if (name.empty())
      return bad("a rule needs a name");
    if (kind == "input") {
      auto regex = std::string{trim(rest)};
      if (regex.empty())
        return bad("rule '" + name + "' has no pattern");
      if (auto ok = pattern_set::compile({{name, regex}}, "rule"); !ok)
        return bad(ok.error().message);
      out.input.push_back({name, regex});
    } else if (kind == "output") {
      output_rule r;
      r.name = name;
      auto action = next_word(rest);
      if (action == "block")
        r.action = rule_action::block;
      else if (action == "redact")
        r.action = rule_action::redact;
      else if (action == "flag")
        r.action = rule_action::flag;
      else
        return bad("rule '" + name + "': the action must be block, redact "
                   "or flag, got '" + std::string{action} + "'");
      auto peek = rest;
      auto maybe_check = next_word(peek);
      if (maybe_check.substr(0, 6) == "check=") {
        auto c = maybe_check.substr(6);
        if (c == "luhn")
          r.check = rule_check::luhn;
        else if (c == "ssn")
          r.check = rule_check::ssn;
        else
          return bad("rule '" + name + "': check must be luhn or ssn, got '" +
                     std::string{c} + "'");
        rest = peek;
      }
      r.regex = std::string{trim(rest)};
      if (r.regex.empty())
        return bad("rule '" + name + "' has no pattern");
      if (auto ok = pattern_set::compile({{name, r.regex}}, "rule"); !ok)
        return bad(ok.error().message);
      out.output.push_back(std::move(r));
    } else {
      return bad("a rule starts with 'input' or 'output', got '" +
                 std::string{kind} + "'");
    }
  }
  return out;
}

result<rule_set> load_rules(const std::filesystem::path& file) {
  std::ifstream in{file};
  if (!in)
    return failure{errc::invalid_config,
                   "cannot read the guardrail rules file '" + file.string() +
                     "'"};
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_rules(buf.str(), file.string());
}

result<compiled_rules> compile(const rule_set& rules, size_t max_input_bytes) {
  input_filter_config icfg;
  icfg.max_input_bytes = max_input_bytes;
  icfg.deny_patterns = rules.input;
  auto in = input_filter::make(icfg);
  if (!in)
    return in.error();
  auto out = output_filter::make(rules.output);
  if (!out)
    return out.error();
  return compiled_rules{std::move(*in), std::move(*out),
                        rules.input.size() + rules.output.size()};
}

result<size_t> rules_holder::reload() {
  if (file_.empty())
    return failure{errc::invalid_config,
                   "no guardrail rules file is configured "
                   "(guardrail.rules_file)"};
  auto rules = load_rules(file_);
  if (!rules)
    return rules.error();
  auto compiled = compile(*rules, max_input_bytes_);
  if (!compiled)
    return failure{compiled.error().code,
                   file_.string() + ": " + compiled.error().message};
  std::lock_guard<std::mutex> guard{mtx_};
  current_ = std::move(*compiled);
  return current_.count;
}

result<std::shared_ptr<rules_holder>> load_configured(const settings& cfg) {
  rule_set rules{cfg.deny_patterns, default_output_rules()};
  if (!cfg.rules_file.empty()) {
    auto loaded = load_rules(cfg.rules_file);
    if (!loaded)
      return loaded.error();
    rules = std::move(*loaded);
  }
  auto compiled = compile(rules, cfg.max_input_bytes);
  if (!compiled)
    return compiled.error();
  return std::make_shared<rules_holder>(std::move(*compiled), cfg.rules_file,
                                        cfg.max_input_bytes);
}

result<std::string> storable(const compiled_rules& rules,
                             const std::string& text) {
  auto c = rules.output->check(text);
  if (c.blocked())
    return failure{errc::rejected,
                   "the memory was not stored: it contains " + c.blocked_by};
  return std::move(c.text);
}

} // namespace troupe::guardrail
