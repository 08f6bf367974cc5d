#include "actors/settings.hpp"

#include <algorithm>
#include <set>
#include <system_error>

#include "core/names.hpp"

namespace troupe {

const char* to_string(restart_strategy x) noexcept {
  switch (x) {
    case restart_strategy::one_for_one:
      return "one_for_one";
    case restart_strategy::one_for_all:
      return "one_for_all";
    case restart_strategy::rest_for_one:
      return "rest_for_one";
  }
  return "unknown";
}

std::vector<std::string> provider_roster(const engine_settings& cfg) {
  std::vector<std::string> out{""};
  out.insert(out.end(), cfg.provider.fallback.begin(),
             cfg.provider.fallback.end());
  auto held = [&](const std::string& name) {
    if (name.empty() || (name == "offline" && cfg.provider.kind == "offline"))
      return true;
    return std::find(out.begin() + 1, out.end(), name) != out.end();
  };
  for (auto& [_, a] : cfg.agents)
    if (!held(a.provider))
      out.push_back(a.provider);
  return out;
}

llm::provider_config provider_settings(const engine_settings& cfg,
                                       size_t index) {
  if (index == 0)
    return cfg.provider;
  auto name = provider_roster(cfg).at(index);
  return name == "offline" ? llm::provider_config{} : cfg.providers.at(name);
}

std::optional<std::vector<uint32_t>>
agent_chain(const engine_settings& cfg, const std::string& name) {
  auto chain_size = static_cast<uint32_t>(1 + cfg.provider.fallback.size());
  std::vector<uint32_t> out;
  if (!name.empty()) {
    auto roster = provider_roster(cfg);
    auto at = std::find(roster.begin() + 1, roster.end(), name);
    if (name == "offline" && cfg.provider.kind == "offline")
      out.push_back(0);
    else if (at != roster.end())
      out.push_back(static_cast<uint32_t>(at - roster.begin()));
    else
      return std::nullopt;
  }
  for (uint32_t i = 0; i < chain_size; ++i)
    if (out.empty() || out[0] != i)
      out.push_back(i);
  return out;
}

bool is_fault_role(std::string_view role) {
  static const std::set<std::string, std::less<>> roles{
    "memory", "guardrail", "planner", "provider", "tools"};
  if (roles.count(role))
    return true;
  if (role.size() == 10 && role.substr(0, 9) == "provider.") {
    auto n = role[9] - '0';
    return n >= 1 && static_cast<size_t>(n) <= max_provider_fallbacks;
  }
  return false;
}

namespace {

constexpr int64_t day_ms = 86'400'000;
using maybe_failure = std::optional<failure>;

const keys<timeouts>& timeout_keys() {
  static const auto table =
    keys<timeouts>{}
      .millis("role_ms", &timeouts::role, 1, day_ms,
              "setup requests between roles")
      .millis("tool_ms", &timeouts::tool, 1, day_ms,
              "one call to a tool executor on another node")
      .millis("task_ms", &timeouts::task, 1, day_ms, "one task, end to end");
  return table;
}

const keys<supervisor_policy>& policy_keys() {
  using p = supervisor_policy;
  static const auto table =
    keys<p>{}
      .custom(
        "strategy",
        [](const json& v, p& out, const std::string& path) -> maybe_failure {
          auto name = v.is_string() ? v.get<std::string>() : dump(v);
          if (name == "one_for_one")
            out.strategy = restart_strategy::one_for_one;
          else if (name == "one_for_all")
            out.strategy = restart_strategy::one_for_all;
          else if (name == "rest_for_one")
            out.strategy = restart_strategy::rest_for_one;
          else if (!v.is_string())
            return config_error(path + " must be a string, got " + dump(v));
          else
            return config_error(path +
                                " must be one_for_one, one_for_all or "
                                "rest_for_one, got '" +
                                name + "'");
          return std::nullopt;
        },
        [](const p& d) {
          return json{{"enum", {"one_for_one", "one_for_all", "rest_for_one"}},
                      {"default", to_string(d.strategy)}};
        },
        "which children restart when one fails")
      .integer("intensity", &p::intensity, 0, 1000000,
               "restarts allowed within the period; one more escalates")
      .millis("period_ms", &p::period, 1, day_ms, "the intensity's window")
      .millis("backoff_ms", &p::backoff, 0, day_ms, "delay before a restart")
      .millis("shutdown_ms", &p::shutdown, 1, day_ms,
              "time a child gets to stop before it is killed");
  return table;
}

const keys<supervision_config>& supervision_keys() {
  using s = supervision_config;
  static const auto table =
    keys<s>{}
      .section("root", &s::root, policy_keys(),
               "monitor, memory, guardrail, providers, tools, planner, tasks")
      .section("providers", &s::providers, policy_keys(),
               "the model providers")
      .section("tool_executors", &s::tool_executors, policy_keys(),
               "the tool executors")
      .section("planners", &s::planners, policy_keys(), "the planner pool");
  return table;
}

const keys<budget_config>& budget_keys() {
  static const auto table = keys<budget_config>{}.integer(
    "max_tokens", &budget_config::max_tokens, 0, int64_t{1} << 40,
    "most model tokens one task may spend (0: no limit)");
  return table;
}

const keys<fault_spec>& fault_keys() {
  static const auto table =
    keys<fault_spec>{}
      .integer("every", &fault_spec::every, 0, 1000000000,
               "fault on every Nth message (0: off)")
      .custom(
        "rate",
        [](const json& v, fault_spec& out,
           const std::string& path) -> maybe_failure {
          if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1)
            return config_error(path + " must be a number in 0..1, got " +
                                dump(v));
          out.rate = v.get<double>();
          return std::nullopt;
        },
        [](const fault_spec&) {
          return json{{"type", "number"}, {"minimum", 0}, {"maximum", 1}};
        },
        "fraction of messages that fault, spread evenly",
        [](const fault_spec& in, const std::string& path) -> maybe_failure {
          if (!(in.rate >= 0 && in.rate <= 1))
            return config_error(path + " must be in 0..1, got " +
                                std::to_string(in.rate));
          return std::nullopt;
        })
      .custom(
        "mode",
        [](const json& v, fault_spec& out,
           const std::string& path) -> maybe_failure {
          if (!v.is_string())
            return config_error(path + " must be a string, got " + dump(v));
          if (!from_string(v.get<std::string>(), out.mode))
            return config_error(path + " must be crash, exit or stall, got '" +
                                v.get<std::string>() + "'");
          return std::nullopt;
        },
        [](const fault_spec&) {
          return json{{"enum", {"crash", "exit", "stall"}}};
        },
        "crash (throw), exit (stop the actor) or stall (never answer)");
  return table;
}

maybe_failure read_mcp_servers(const json& v, engine_settings& out,
                               const std::string& path) {
  if (!v.is_object())
    return config_error(path + " must be an object, got " + dump(v));
  out.mcp_servers.clear();
  for (auto& [name, spec] : v.items()) {
    auto key = path + "." + name;
    if (!spec.is_object())
      return config_error(key + " must be an object");
    mcp::server_config s;
    s.name = name;
    if (auto f = mcp::server_keys().read(spec, s, key))
      return f;
    out.mcp_servers.push_back(std::move(s));
  }
  return std::nullopt;
}

maybe_failure read_faults(const json& v, engine_settings& out,
                          const std::string&) {
  if (!v.is_object())
    return config_error("faults must be an object");
  for (auto& [role, spec] : v.items()) {
    if (!is_fault_role(role))
      return config_error("faults: unknown role '" + role +
                          "' (memory, guardrail, planner, provider, "
                          "provider.1.." +
                          std::to_string(max_provider_fallbacks) + ", tools)");
    if (!spec.is_object())
      return config_error("faults." + role + " must be an object");
    fault_spec f;
    if (auto err = fault_keys().read(spec, f, "faults." + role))
      return err;
    out.faults[role] = f;
  }
  return std::nullopt;
}

json object_of(json values) {
  return json{{"type", "object"}, {"additionalProperties", std::move(values)}};
}

} // namespace

const keys<engine_settings>& engine_keys() {
  using e = engine_settings;
  constexpr int64_t big = int64_t{1} << 40;
  static const auto table =
    keys<e>{}
      .text("workspace", &e::workspace, "root the file tool is confined to")
      .text("data_dir", &e::data_dir,
            "where data lives on disk (the CLI's default: "
            "$XDG_DATA_HOME/troupe)")
      .integer("max_file_bytes", &e::max_file_bytes, 1, big,
               "largest file the file tool reads, in bytes")
      .integer("max_steps", &e::max_steps, 1, 1000,
               "most agent-loop steps per task")
      .integer("tool_workers", &e::tool_workers, 1, 256,
               "threads of the local tool executor's worker pool")
      .integer("planner_workers", &e::planner_workers, 1, 64,
               "planner instances (a task keeps to one)")
      .section("tools", &e::tools, tools::settings_keys(),
               "the tool executor and the built-in tools")
      .custom("mcp_servers", read_mcp_servers,
              [](const e&) {
                return object_of(
                  mcp::server_keys().schema(mcp::server_config{}));
              },
              "MCP servers by name; their tools are <name>__<tool>")
      .integer("max_parallel_calls", &e::max_parallel_calls, 1, 1000,
               "most tool calls the planner may request in one step")
      .section("memory", &e::memory, memory::settings_keys(),
               "short- and long-term memory")
      .section("guardrail", &e::guardrail, guardrail::settings_keys(),
               "input checks and the rules file")
      .section("timeouts", &e::timeouts, timeout_keys(), "request deadlines")
      .section("access", &e::access, guardrail::access_keys(),
               "principals, roles, permissions and API keys")
      .custom("providers",
              named_entries(&e::providers, llm::provider_keys()),
              [](const e&) {
                return object_of(
                  llm::provider_keys().schema(llm::provider_config{}));
              },
              "named providers for the fallback chain",
              [](const e& in, const std::string& path) -> maybe_failure {
                for (auto& [name, p] : in.providers)
                  if (auto f = llm::provider_keys().check(p, path + "." + name))
                    return f;
                return std::nullopt;
              })
      .section("budget", &e::budget, budget_keys(), "spending limits per task")
      .custom("agents", named_entries(&e::agents, agents::agent_keys()),
              [](const e&) {
                return object_of(
                  agents::agent_keys().schema(agents::agent_config{}));
              },
              "agents by name: instructions, provider and model, tools, "
              "budgets, memory, output schema",
              [](const e& in, const std::string& path) -> maybe_failure {
                for (auto& [name, a] : in.agents)
                  if (auto f = agents::agent_keys().check(a, path + "." + name))
                    return f;
                return std::nullopt;
              })
      .section("provider", &e::provider, llm::primary_keys(),
               "the primary model provider and its fallbacks")
      .custom("faults", read_faults,
              [](const e&) {
                return object_of(fault_keys().schema(fault_spec{}));
              },
              "injected faults by role (tests and drills only)")
      .section("supervision", &e::supervision, supervision_keys(),
               "restart policies of the engine's supervisors");
  return table;
}

std::optional<memory::long_term_config>
long_term_of(const engine_settings& cfg) {
  return memory::long_term_of(cfg.memory, cfg.data_dir);
}

result<bool> validate(const engine_settings& cfg) {
  // Every declared range, sections included, once; then what the modules
  // check beyond their declarations.
  if (auto f = engine_keys().check(cfg, ""))
    return *f;
  if (auto ok = tools::validate(cfg.tools); !ok)
    return ok;
  for (auto& s : cfg.mcp_servers)
    if (auto ok = mcp::validate(s); !ok)
      return config_error("mcp_servers: " + ok.error().message);
  if (auto ok = llm::validate(cfg.provider, "provider"); !ok)
    return ok;
  for (auto& [name, p] : cfg.providers)
    if (auto ok = llm::validate(p, "providers." + name); !ok)
      return ok;
  for (auto& name : cfg.provider.fallback)
    if (name != "offline" && !cfg.providers.count(name))
      return config_error("provider.fallback: unknown provider '" + name +
                          "' (offline, or a name from providers)");
  for (auto& [name, a] : cfg.agents) {
    if (!valid_name(name))
      return config_error("agents." + name +
                          ": an agent's name must be 1-64 characters of "
                          "A-Z a-z 0-9 _ . -");
    auto known = a.provider.empty() || a.provider == "offline" ||
                 cfg.providers.count(a.provider) > 0;
    if (auto ok = agents::validate(a, "agents." + name, known); !ok)
      return ok;
  }
  for (auto& [role, f] : cfg.faults) {
    if (!is_fault_role(role))
      return config_error("faults: unknown role '" + role + "'");
    if (auto bad = fault_keys().check(f, "faults." + role))
      return *bad;
  }
  if (auto ok = guardrail::validate(cfg.access); !ok)
    return ok;
  return guardrail::validate(cfg.guardrail);
}

result<bool> preflight(const engine_settings& cfg) {
  std::error_code ec;
  if (!std::filesystem::is_directory(cfg.workspace, ec))
    return config_error("workspace '" + cfg.workspace.string() +
                        "' is not an existing directory");
  if (auto ok = llm::preflight(cfg.provider, "provider"); !ok)
    return ok;
  for (auto& [name, p] : cfg.providers)
    if (auto ok = llm::preflight(p, "providers." + name); !ok)
      return ok;
  for (auto& [name, a] : cfg.agents)
    if (!a.instructions_file.empty() &&
        !std::filesystem::is_regular_file(a.instructions_file, ec))
      return config_error("agents." + name + ".instructions_file: '" +
                          a.instructions_file.string() +
                          "' is not a readable file");
  return true;
}

} // namespace troupe
