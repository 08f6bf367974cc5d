#include "agents/settings.hpp"

#include <fnmatch.h>

#include "core/json.hpp"
#include "core/names.hpp"

namespace troupe::agents {

namespace {

using maybe_failure = std::optional<failure>;
constexpr int64_t day_ms = 86'400'000;

const keys<memory_policy>& memory_keys() {
  using m = memory_policy;
  static const auto table =
    keys<m>{}
      .flag("enabled", &m::enabled,
            "recall before planning and the memory tools (false: none)")
      .text("namespace", &m::ns,
            "long-term namespace under the principal (default: the agent's "
            "name)")
      .integer("recall_limit", &m::recall_limit, -1, 50,
               "memories recalled before planning (-1: memory.recall_limit)");
  return table;
}

} // namespace

const keys<agent_config>& agent_keys() {
  using a = agent_config;
  static const auto table =
    keys<a>{}
      .text("description", &a::description, "what the agent is for")
      .text("instructions", &a::instructions,
            "the system prompt (or instructions_file)")
      .text("instructions_file", &a::instructions_file,
            "a file holding the system prompt (relative: to the working "
            "directory)")
      .text("provider", &a::provider,
            "\"\" (the engine's provider chain), offline, or a name from "
            "providers")
      .text("model", &a::model, "the model, over the provider's")
      .list("tools", &a::tools,
            "tool names or globs it may use; !pattern excludes")
      .integer("max_steps", &a::max_steps, 0, 1000,
               "most tool steps per task (0: max_steps)")
      .integer("max_tokens", &a::max_tokens, 0, int64_t{1} << 40,
               "most model tokens per task (0: budget.max_tokens)")
      .millis("timeout_ms", &a::timeout, 0, day_ms,
              "one task end to end (0: timeouts.task_ms)")
      .section("memory", &a::memory, memory_keys(), "what it remembers")
      .integer("history_tokens", &a::history_tokens, 0, int64_t{1} << 30,
               "most tokens of a thread's earlier turns a run gives the "
               "model; the oldest whole turns beyond it are left out")
      .custom(
        "history",
        [](const json& v, a& out, const std::string& path) -> maybe_failure {
          if (v == "drop" || v == "summarize") {
            out.summarize_history = v == "summarize";
            return std::nullopt;
          }
          return config_error(path + " must be \"drop\" or \"summarize\", got " +
                              dump(v));
        },
        [](const a& d) {
          return json{{"enum", {"drop", "summarize"}},
                      {"default", d.summarize_history ? "summarize" : "drop"}};
        },
        "what happens to the turns past history_tokens: drop (left out) or "
        "summarize (the agent's model summarizes them, and the summary "
        "goes first)")
      .custom(
        "output_schema",
        [](const json& v, a& out, const std::string& path) -> maybe_failure {
          if (v.is_null()) {
            out.output_schema.clear();
            return std::nullopt;
          }
          if (!v.is_object())
            return config_error(path + " must be a JSON Schema object, got " +
                                dump(v));
          out.output_schema = dump(v);
          return std::nullopt;
        },
        [](const a&) {
          return json{{"type", json::array({"object", "null"})},
                      {"default", nullptr}};
        },
        "a JSON Schema the final answer must match (structured output)");
  return table;
}

result<std::shared_ptr<const tools::schema_validator>>
compile_output_schema(const agent_config& cfg, const std::string& key) {
  if (cfg.output_schema.empty())
    return std::shared_ptr<const tools::schema_validator>{};
  auto what = key + ".output_schema";
  auto schema = parse_object(cfg.output_schema, what);
  if (!schema)
    return config_error(schema.error().message);
  auto compiled = tools::schema_validator::compile(*schema, what);
  if (!compiled)
    return config_error(compiled.error().message);
  return std::move(*compiled);
}

result<bool> validate(const agent_config& cfg, const std::string& key,
                      bool provider_known) {
  if (!cfg.instructions.empty() && !cfg.instructions_file.empty())
    return config_error(key +
                        ": set instructions or instructions_file, not both");
  if (!provider_known)
    return config_error(key + ".provider: unknown provider '" + cfg.provider +
                        "' (offline, or a name from providers)");
  if (!cfg.memory.ns.empty() && !valid_name(cfg.memory.ns))
    return config_error(key + ".memory.namespace must be 1-64 characters of "
                              "A-Z a-z 0-9 _ . -, got '" +
                        cfg.memory.ns + "'");
  for (auto& p : cfg.tools)
    if (p.empty() || p == "!")
      return config_error(key + ".tools: an empty pattern");
  if (auto compiled = compile_output_schema(cfg, key); !compiled)
    return compiled.error();
  return true;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  // fnmatch needs NUL-terminated strings; names and patterns are short.
  std::string p{pattern};
  std::string n{name};
  return fnmatch(p.c_str(), n.c_str(), 0) == 0;
}

bool tool_allowed(const std::vector<std::string>& patterns,
                  std::string_view name) {
  bool allowed = false;
  for (auto& p : patterns) {
    if (p.starts_with('!')) {
      if (glob_match(std::string_view{p}.substr(1), name))
        return false;
    } else if (!allowed && glob_match(p, name)) {
      allowed = true;
    }
  }
  return allowed;
}

} // namespace troupe::agents
