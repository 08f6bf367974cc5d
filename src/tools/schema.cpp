#include "tools/schema.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <re2/re2.h>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace troupe::tools {

namespace {

/// One step from a value to a value inside it.
struct step {
  enum kind_t : uint8_t { property, any_item, item } kind = property;
  std::string name;
  size_t index = 0;
};

/// A `pattern` keyword, checked with RE2 on every string at `path`.
struct pattern_rule {
  std::vector<step> path;
  std::string source;
  std::unique_ptr<RE2> re;
};

/// Keywords under which a subschema applies only sometimes: a pattern there
/// cannot be checked on its own, outside valijson.
constexpr const char* conditional_keywords[] = {
  "anyOf", "oneOf", "not", "if", "then", "else", "dependencies", "contains",
  "propertyNames", "additionalItems", "dependentSchemas"};

/// Where a `$ref` points in `root`. Only local references ("#" or "#/…")
/// that resolve are taken: valijson would match any other against its URI
/// std::regex first (an untrusted MCP schema could make that long).
json::json_pointer local_target(const json& ref, const json& root) {
  if (!ref.is_string())
    throw std::runtime_error("'$ref' must be a string");
  auto text = ref.get<std::string>();
  if (text != "#" && text.rfind("#/", 0) != 0)
    throw std::runtime_error("'$ref' \"" + text.substr(0, 64) +
                             "\" is not local (remote references are not supported; "
                             "only \"#/…\" is)");
  try {
    json::json_pointer ptr{text.substr(1)};
    if (root.contains(ptr))
      return ptr;
  } catch (const json::exception&) {
  }
  throw std::runtime_error("'$ref' \"" + text.substr(0, 64) +
                           "\" points nowhere in the schema");
}

/// True if `x` holds a `pattern` anywhere.
bool has_pattern(const json& x) {
  if (x.is_object()) {
    if (auto i = x.find("pattern"); i != x.end() && i->is_string())
      return true;
    for (auto& [k, v] : x.items())
      if (has_pattern(v))
        return true;
  } else if (x.is_array()) {
    for (auto& v : x)
      if (has_pattern(v))
        return true;
  }
  return false;
}

/// Walks `schema`, moving every `pattern` into `rules` (checked with RE2)
/// and dropping every `format` (valijson checks the date and time formats
/// with std::regex, which recurses per character: a long string could
/// overflow the stack). Throws std::runtime_error on what it cannot check
/// safely.
void extract(json& schema, std::vector<step>& path, const json& root,
             std::vector<pattern_rule>& rules, bool conditional, int depth,
             std::vector<std::string>& refs) {
  if (!schema.is_object())
    return;
  if (depth > 32)
    throw std::runtime_error("schema nests deeper than 32 levels");
  if (schema.contains("patternProperties"))
    throw std::runtime_error(
      "'patternProperties' is not supported (its regular expressions would "
      "run on std::regex)");
  schema.erase("format");
  if (auto i = schema.find("pattern"); i != schema.end()) {
    if (!i->is_string())
      throw std::runtime_error("'pattern' must be a string");
    if (conditional)
      throw std::runtime_error("'pattern' inside a conditional subschema "
                               "(anyOf, oneOf, not, if …) is not supported");
    pattern_rule rule{path, i->get<std::string>(), nullptr};
    RE2::Options opts;
    opts.set_log_errors(false);
    rule.re = std::make_unique<RE2>(rule.source, opts);
    if (!rule.re->ok())
      throw std::runtime_error("bad 'pattern' /" + rule.source +
                               "/: " + rule.re->error());
    rules.push_back(std::move(rule));
    schema.erase(i);
  }
  // A local reference is followed (the referenced schema keeps its own
  // patterns for valijson's copy, which never sees them: `scrub` erases
  // them there).
  if (auto i = schema.find("$ref"); i != schema.end()) {
    auto ptr = local_target(*i, root);
    auto ref = i->get<std::string>();
    // A recursive schema refers to itself: each reference is followed once
    // per path, so a pattern below the second turn would go unchecked.
    bool open = std::find(refs.begin(), refs.end(), ref) != refs.end();
    if (open && has_pattern(root.at(ptr)))
      throw std::runtime_error("'pattern' inside a recursive schema ('$ref' "
                               "\"" + ref + "\") is not supported");
    if (!open) {
      auto copy = root.at(ptr);
      refs.push_back(ref);
      extract(copy, path, root, rules, conditional, depth + 1, refs);
      refs.pop_back();
    }
  }
  if (auto i = schema.find("properties"); i != schema.end() && i->is_object())
    for (auto& [name, sub] : i->items()) {
      path.push_back({step::property, name, 0});
      extract(sub, path, root, rules, conditional, depth + 1, refs);
      path.pop_back();
    }
  if (auto i = schema.find("additionalProperties");
      i != schema.end() && i->is_object())
    extract(*i, path, root, rules, true, depth + 1, refs);
  if (auto i = schema.find("items"); i != schema.end()) {
    if (i->is_object()) {
      path.push_back({step::any_item, {}, 0});
      extract(*i, path, root, rules, conditional, depth + 1, refs);
      path.pop_back();
    } else if (i->is_array()) {
      for (size_t k = 0; k < i->size(); ++k) {
        path.push_back({step::item, {}, k});
        extract((*i)[k], path, root, rules, conditional, depth + 1, refs);
        path.pop_back();
      }
    }
  }
  if (auto i = schema.find("allOf"); i != schema.end() && i->is_array())
    for (auto& sub : *i)
      extract(sub, path, root, rules, conditional, depth + 1, refs);
  for (auto kw : conditional_keywords) {
    auto i = schema.find(kw);
    if (i == schema.end())
      continue;
    if (i->is_object())
      extract(*i, path, root, rules, true, depth + 1, refs);
    else if (i->is_array())
      for (auto& sub : *i)
        extract(sub, path, root, rules, true, depth + 1, refs);
  }
}

/// Drops `pattern` and `format` from `x` and every subschema in it (the
/// targets of its `$ref`s in `root` included, each once), once `extract`
/// has taken the patterns. Only schema positions are touched: a property
/// named "format" stays. Refuses long `id`s: valijson matches a nested one
/// against its URI std::regex.
void scrub(json& x, json& root, std::set<const json*>& seen) {
  if (!x.is_object() || !seen.insert(&x).second)
    return;
  if (x.contains("patternProperties"))
    throw std::runtime_error(
      "'patternProperties' is not supported (its regular expressions would "
      "run on std::regex)");
  for (auto kw : {"id", "$id"})
    if (auto i = x.find(kw);
        i != x.end() && i->is_string() && i->get_ref<const std::string&>().size() > 256)
      throw std::runtime_error(std::string{"'"} + kw +
                               "' is longer than 256 characters");
  x.erase("pattern");
  x.erase("format");
  if (auto i = x.find("$ref"); i != x.end())
    scrub(root.at(local_target(*i, root)), root, seen);
  for (auto kw : {"properties", "definitions", "$defs", "dependencies",
                  "dependentSchemas"})
    if (auto i = x.find(kw); i != x.end() && i->is_object())
      for (auto& [name, sub] : i->items())
        scrub(sub, root, seen);
  for (auto kw : {"additionalProperties", "items", "not", "if", "then",
                  "else", "contains", "propertyNames", "additionalItems"})
    if (auto i = x.find(kw); i != x.end())
      scrub(*i, root, seen);
  for (auto kw : {"allOf", "anyOf", "oneOf", "items"})
    if (auto i = x.find(kw); i != x.end() && i->is_array())
      for (auto& sub : *i)
        scrub(sub, root, seen);
}

/// Renders valijson's context ("<root>", "[opts]", "[3]") as "opts[3]".
std::string field_of(const std::vector<std::string>& context,
                     const json& args, std::string* got) {
  std::string out;
  const json* at = &args;
  for (auto& c : context) {
    if (c == "<root>" || c.size() < 2)
      continue;
    auto name = c.substr(1, c.size() - 2);
    bool index = !name.empty() &&
                 name.find_first_not_of("0123456789") == std::string::npos &&
                 at != nullptr && at->is_array();
    if (index) {
      out += "[" + name + "]";
      auto k = std::stoul(name);
      at = k < at->size() ? &(*at)[k] : nullptr;
    } else {
      out += (out.empty() ? "" : ".") + name;
      auto i = at != nullptr && at->is_object() ? at->find(name) : json::const_iterator{};
      at = at != nullptr && at->is_object() && i != at->end() ? &*i : nullptr;
    }
  }
  if (got != nullptr && at != nullptr)
    *got = at->type_name();
  return out;
}

/// The name quoted at the end of a valijson message ("… 'path'.").
std::string quoted_name(const std::string& text) {
  auto end = text.rfind('\'');
  if (end == std::string::npos || end == 0)
    return {};
  auto begin = text.rfind('\'', end - 1);
  if (begin == std::string::npos)
    return {};
  return text.substr(begin + 1, end - begin - 1);
}

std::string join_field(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

/// One violation as "argument 'x': …", or nothing for valijson's summary
/// lines that only repeat a deeper error.
std::optional<std::string> describe(const valijson::ValidationResults::Error& e,
                                    const json& args) {
  auto& d = e.description;
  if (d.rfind("Failed to validate against schema associated with property",
              0) == 0 ||
      d.rfind("Failed to validate item #", 0) == 0 ||
      d.rfind("Failed to validate against child schema", 0) == 0)
    return std::nullopt;
  std::string got;
  auto field = field_of(e.context, args, &got);
  std::string what;
  if (d.rfind("Missing required property", 0) == 0) {
    field = join_field(field, quoted_name(d));
    what = "missing (required)";
  } else if (d.rfind("Object contains a property that could not be validated",
                     0) == 0) {
    field = join_field(field, quoted_name(d));
    what = "not allowed (no such argument)";
  } else if (d.rfind("Value type not permitted", 0) == 0) {
    what = "wrong type" + (got.empty() ? "" : " (got " + got + ")");
  } else {
    what = d;
    if (!what.empty() && what.back() == '.')
      what.pop_back();
    if (!what.empty())
      what[0] = static_cast<char>(std::tolower(what[0]));
  }
  if (field.empty())
    return "arguments: " + what;
  return "argument '" + field + "': " + what;
}

/// Checks `rule` on every string its path reaches in `at`.
void check_pattern(const pattern_rule& rule, size_t depth, const json& at,
                   std::string field, std::vector<std::string>& out) {
  if (depth == rule.path.size()) {
    if (at.is_string() && !RE2::PartialMatch(at.get_ref<const std::string&>(),
                                             *rule.re))
      out.push_back("argument '" + field + "': does not match the pattern /" +
                    rule.source + "/");
    return;
  }
  auto& s = rule.path[depth];
  switch (s.kind) {
    case step::property:
      if (at.is_object())
        if (auto i = at.find(s.name); i != at.end())
          check_pattern(rule, depth + 1, *i, join_field(field, s.name), out);
      break;
    case step::any_item:
      if (at.is_array())
        for (size_t k = 0; k < at.size(); ++k)
          check_pattern(rule, depth + 1, at[k],
                        field + "[" + std::to_string(k) + "]", out);
      break;
    case step::item:
      if (at.is_array() && s.index < at.size())
        check_pattern(rule, depth + 1, at[s.index],
                      field + "[" + std::to_string(s.index) + "]", out);
      break;
  }
}

} // namespace

struct schema_validator::impl {
  json document;
  valijson::Schema schema;
  std::vector<pattern_rule> patterns;
};

schema_validator::schema_validator(std::unique_ptr<impl> x)
  : impl_(std::move(x)) {}

schema_validator::~schema_validator() = default;

result<std::shared_ptr<const schema_validator>>
schema_validator::compile(const json& schema, std::string_view what) {
  auto fail = [&](const std::string& why) {
    return failure{errc::invalid_config,
                   "invalid JSON Schema for " + std::string{what} + ": " + why};
  };
  if (!schema.is_object())
    return fail(std::string{"must be an object, got "} + schema.type_name());
  auto x = std::make_unique<impl>();
  try {
    x->document = schema;
    std::vector<step> path;
    std::vector<std::string> refs;
    extract(x->document, path, schema, x->patterns, false, 0, refs);
    std::set<const json*> seen;
    scrub(x->document, x->document, seen);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(x->document);
    parser.populateSchema(adapter, x->schema);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return std::shared_ptr<const schema_validator>{
    new schema_validator(std::move(x))};
}

result<bool> schema_validator::check(const json& args) const {
  std::vector<std::string> problems;
  try {
    // A validator holds a regex cache; this project's schemas carry no
    // patterns for it (see `extract`), so a fresh one per call is cheap.
    valijson::Validator validator;
    valijson::adapters::NlohmannJsonAdapter target(args);
    // Without a results object valijson stops at the first violation and
    // records nothing: the cheap pass, enough for valid arguments.
    valijson::ValidationResults results;
    if (!validator.validate(impl_->schema, target, nullptr) &&
        !validator.validate(impl_->schema, target, &results)) {
      valijson::ValidationResults::Error e;
      while (results.popError(e))
        if (auto text = describe(e, args))
          problems.push_back(std::move(*text));
      if (problems.empty())
        problems.push_back("arguments: do not match the tool's schema");
    }
  } catch (const std::exception& e) {
    problems.push_back(std::string{"arguments: cannot be checked: "} +
                       e.what());
  }
  for (auto& rule : impl_->patterns)
    check_pattern(rule, 0, args, {}, problems);
  if (problems.empty())
    return true;
  std::string text;
  for (auto& p : problems)
    text += (text.empty() ? "" : "; ") + p;
  return failure{errc::invalid_arguments, std::move(text)};
}

} // namespace troupe::tools
