#include "core/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "cluster/nodes.hpp"
#include "core/json.hpp"

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

std::optional<memory::long_term_config> long_term_of(const engine_config& cfg) {
  if (cfg.data_dir.empty() || !cfg.long_term.enabled)
    return std::nullopt;
  memory::long_term_config out;
  out.file = cfg.data_dir / "memory.db";
  out.max_entry_bytes = cfg.long_term.max_entry_bytes;
  out.max_per_namespace = cfg.long_term.max_per_namespace;
  out.durable = cfg.long_term.durable;
  return out;
}

std::string provider_config::key_variable() const {
  if (api_key_env)
    return *api_key_env;
  if (kind == "openai")
    return "OPENAI_API_KEY";
  if (kind == "anthropic")
    return "ANTHROPIC_API_KEY";
  return {};
}

std::string provider_config::url() const {
  if (!base_url.empty())
    return base_url;
  if (kind == "anthropic")
    return "https://api.anthropic.com/v1";
  return "https://api.openai.com/v1";
}

std::optional<std::pair<std::string, uint16_t>>
parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    return std::nullopt;
  auto port_str = s.substr(colon + 1);
  if (port_str.find_first_not_of("0123456789") != std::string::npos ||
      port_str.size() > 5)
    return std::nullopt;
  auto port = std::stoul(port_str);
  if (port > 65535)
    return std::nullopt;
  return std::pair{s.substr(0, colon), static_cast<uint16_t>(port)};
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    auto comma = std::min(text.find(',', at), text.size());
    if (comma > at)
      out.emplace_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

result<bool> validate(const engine_config& cfg) {
  auto bad = [](std::string msg) {
    return failure{errc::invalid_config, std::move(msg)};
  };
  static const std::set<std::string> levels{
    "", "trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(cfg.log_level))
    return bad("log_level must be trace, debug, info, warn, error, critical "
               "or off, got '" + cfg.log_level + "'");
  if (!parse_endpoint(cfg.serve.listen))
    return bad("serve.listen must be HOST:PORT (port 0..65535), got '" +
               cfg.serve.listen + "'");
  std::error_code ec;
  if (!std::filesystem::is_directory(cfg.workspace, ec))
    return bad("workspace '" + cfg.workspace.string() +
               "' is not an existing directory");
  if (cfg.max_file_bytes == 0)
    return bad("max_file_bytes must be > 0, got 0");
  if (cfg.memory_capacity == 0)
    return bad("memory_capacity must be > 0, got 0");
  if (cfg.memory_max_sessions == 0)
    return bad("memory_max_sessions must be > 0, got 0");
  if (cfg.max_steps == 0 || cfg.max_steps > 1000)
    return bad("max_steps must be in 1..1000, got " +
               std::to_string(cfg.max_steps));
  if (cfg.tool_workers == 0 || cfg.tool_workers > 256)
    return bad("tool_workers must be in 1..256, got " +
               std::to_string(cfg.tool_workers));
  if (auto ok = tools::validate(cfg.http_get); !ok)
    return bad("tools.http_get: " + ok.error().message);
  for (auto& s : cfg.mcp_servers)
    if (auto ok = mcp::validate(s); !ok)
      return bad("mcp_servers: " + ok.error().message);
  for (auto& n : cfg.cluster_seeds)
    if (!parse_endpoint(n))
      return bad("cluster.seeds: '" + n + "' is not HOST:PORT");
  if (!cfg.cluster_listen.empty() && !parse_endpoint(cfg.cluster_listen))
    return bad("cluster.listen: '" + cfg.cluster_listen +
               "' is not HOST:PORT");
  if (!cfg.cluster_advertise.empty() &&
      !parse_endpoint(cfg.cluster_advertise))
    return bad("cluster.advertise: '" + cfg.cluster_advertise +
               "' is not HOST:PORT");
  if (cfg.cluster_roles.empty())
    return bad("cluster.roles must name at least one of api, planner, "
               "memory, tools");
  for (size_t i = 0; i < cfg.cluster_roles.size(); ++i) {
    auto& r = cfg.cluster_roles[i];
    auto& known = cluster::known_roles();
    if (std::find(known.begin(), known.end(), r) == known.end())
      return bad("cluster.roles: unknown role '" + r +
                 "' (known: api, planner, memory, tools)");
    if (std::find(cfg.cluster_roles.begin(), cfg.cluster_roles.begin() +
                                               static_cast<std::ptrdiff_t>(i),
                  r) != cfg.cluster_roles.begin() +
                         static_cast<std::ptrdiff_t>(i))
      return bad("cluster.roles: '" + r + "' is named twice");
  }
  if (cfg.cluster_name.size() > 128)
    return bad("cluster.name is longer than 128 characters");
  if (cfg.cluster_heartbeat.count() > 0 &&
      cfg.cluster_connection_timeout <= cfg.cluster_heartbeat)
    return bad("cluster.connection_timeout_ms (" +
               std::to_string(cfg.cluster_connection_timeout.count()) +
               ") must be longer than cluster.heartbeat_ms (" +
               std::to_string(cfg.cluster_heartbeat.count()) + ")");
  if (auto& t = cfg.cluster_tls; t.enabled() &&
      (t.certificate.empty() || t.key.empty() || t.cafile.empty()))
    return bad("cluster.tls needs all of certificate, key and cafile");
  if (cfg.planner_workers == 0 || cfg.planner_workers > 64)
    return bad("planner_workers must be in 1..64, got " +
               std::to_string(cfg.planner_workers));
  if (cfg.max_parallel_calls == 0 || cfg.max_parallel_calls > 1000)
    return bad("max_parallel_calls must be in 1..1000, got " +
               std::to_string(cfg.max_parallel_calls));
  auto positive = [&](std::chrono::milliseconds x,
                      const char* key) -> std::optional<failure> {
    if (x.count() <= 0)
      return bad(std::string{"timeouts."} + key + " must be > 0 ms, got " +
                 std::to_string(x.count()));
    return std::nullopt;
  };
  for (auto [x, key] : {std::pair{cfg.timeouts.task, "task"},
                        std::pair{cfg.timeouts.tool, "tool"},
                        std::pair{cfg.timeouts.role, "role"}})
    if (auto f = positive(x, key))
      return *f;
  for (auto [pol, name] :
       {std::pair{&cfg.supervision.root, "root"},
        std::pair{&cfg.supervision.providers, "providers"},
        std::pair{&cfg.supervision.tool_executors, "tool_executors"},
        std::pair{&cfg.supervision.planners, "planners"}}) {
    auto key = std::string{"supervision."} + name;
    if (pol->period.count() <= 0)
      return bad(key + ".period_ms must be > 0, got " +
                 std::to_string(pol->period.count()));
    if (pol->backoff.count() < 0)
      return bad(key + ".backoff_ms must be >= 0, got " +
                 std::to_string(pol->backoff.count()));
    if (pol->shutdown.count() <= 0)
      return bad(key + ".shutdown_ms must be > 0, got " +
                 std::to_string(pol->shutdown.count()));
  }
  if (cfg.provider_fallback.size() > max_provider_fallbacks)
    return bad("provider.fallback lists " +
               std::to_string(cfg.provider_fallback.size()) +
               " providers; at most " + std::to_string(max_provider_fallbacks));
  auto check_provider = [&](const std::string& key,
                            const provider_config& p) -> std::optional<failure> {
    if (p.kind != "offline" && p.kind != "openai" && p.kind != "anthropic")
      return bad(key + ".kind must be offline, openai or anthropic, got '" +
                 p.kind + "'");
    if (p.kind == "offline")
      return std::nullopt;
    if (p.model.empty())
      return bad(key + ".model is required for a " + p.kind + " provider");
    auto url = p.url();
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      return bad(key + ".base_url must start with http:// or https://, got '" +
                 url + "'");
    if (auto var = p.key_variable(); !var.empty()) {
      auto value = std::getenv(var.c_str());
      if (value == nullptr || *value == '\0')
        return bad(key + ": the API key variable " + var +
                   " is not set (set it, or set " + key +
                   ".api_key_env to \"\" for a server that needs no key)");
    }
    return std::nullopt;
  };
  if (auto f = check_provider("provider", cfg.provider))
    return *f;
  for (auto& [name, p] : cfg.providers)
    if (auto f = check_provider("providers." + name, p))
      return *f;
  for (auto& name : cfg.provider_fallback)
    if (name != "offline" && !cfg.providers.count(name))
      return bad("provider.fallback: unknown provider '" + name +
                 "' (offline, or a name from providers)");
  for (auto& [role, f] : cfg.faults) {
    if (!is_fault_role(role))
      return bad("faults: unknown role '" + role + "'");
    if (f.rate < 0 || f.rate > 1)
      return bad("faults." + role + ".rate must be in 0..1, got " +
                 std::to_string(f.rate));
  }
  auto& lt = cfg.long_term;
  if (lt.max_entry_bytes == 0 || lt.max_per_namespace == 0)
    return bad("memory.max_entry_bytes and memory.max_per_namespace must be "
               "> 0");
  if (lt.readers == 0 || lt.readers > 16)
    return bad("memory.readers must be in 1..16, got " +
               std::to_string(lt.readers));
  if (lt.recall_limit > 50)
    return bad("memory.recall_limit must be in 0..50, got " +
               std::to_string(lt.recall_limit));
  if (auto ok = guardrail::validate(cfg.access); !ok)
    return ok;
  return guardrail::validate(cfg.guardrail);
}

namespace {

/// Walks a JSON object, reading known keys and reporting the first problem
/// with its full dotted key.
class reader {
public:
  reader(const json& obj, std::string prefix)
    : obj_(obj), prefix_(std::move(prefix)) {}

  template <class T>
  std::optional<failure> number(const char* key, T& out, int64_t min,
                                int64_t max) {
    auto i = obj_.find(key);
    seen_.insert(key);
    if (i == obj_.end())
      return std::nullopt;
    if (!i->is_number_integer() || i->get<int64_t>() < min ||
        i->get<int64_t>() > max)
      return failure{errc::invalid_config,
                     name(key) + " must be an integer in " +
                       std::to_string(min) + ".." + std::to_string(max) +
                       ", got " + dump(*i)};
    out = static_cast<T>(i->get<int64_t>());
    return std::nullopt;
  }

  std::optional<failure> real(const char* key, double& out, double min,
                              double max) {
    auto i = obj_.find(key);
    seen_.insert(key);
    if (i == obj_.end())
      return std::nullopt;
    if (!i->is_number() || i->get<double>() < min || i->get<double>() > max)
      return failure{errc::invalid_config,
                     name(key) + " must be a number in " + dump(min) + ".." +
                       dump(max) + ", got " + dump(*i)};
    out = i->get<double>();
    return std::nullopt;
  }

  bool has(const char* key) const {
    return obj_.find(key) != obj_.end();
  }

  std::optional<failure> string(const char* key, std::string& out) {
    auto i = obj_.find(key);
    seen_.insert(key);
    if (i == obj_.end())
      return std::nullopt;
    if (!i->is_string())
      return failure{errc::invalid_config,
                     name(key) + " must be a string, got " + dump(*i)};
    out = i->get<std::string>();
    return std::nullopt;
  }

  std::optional<failure> boolean(const char* key, bool& out) {
    auto i = obj_.find(key);
    seen_.insert(key);
    if (i == obj_.end())
      return std::nullopt;
    if (!i->is_boolean())
      return failure{errc::invalid_config,
                     name(key) + " must be true or false, got " + dump(*i)};
    out = i->get<bool>();
    return std::nullopt;
  }

  /// A list of strings at `key`.
  std::optional<failure> strings(const char* key,
                                 std::vector<std::string>& out) {
    auto i = obj_.find(key);
    seen_.insert(key);
    if (i == obj_.end())
      return std::nullopt;
    auto bad = failure{errc::invalid_config,
                       name(key) + " must be a list of strings, got " +
                         dump(*i)};
    if (!i->is_array())
      return bad;
    std::vector<std::string> xs;
    for (auto& x : *i) {
      if (!x.is_string())
        return bad;
      xs.push_back(x.get<std::string>());
    }
    out = std::move(xs);
    return std::nullopt;
  }

  /// A list of strings at `key`, or one string of comma-separated items
  /// (handy in an environment variable: TROUPE_CLUSTER_SEEDS=a:1,b:2).
  std::optional<failure> list(const char* key, std::vector<std::string>& out) {
    auto i = obj_.find(key);
    if (i == obj_.end() || !i->is_string())
      return strings(key, out);
    seen_.insert(key);
    out = split_list(i->get<std::string>());
    return std::nullopt;
  }

  /// The sub-object at `key`, or an error; nullptr if absent.
  result<const json*> object(const char* key) {
    auto i = obj_.find(key);
    seen_.insert(key);
    if (i == obj_.end())
      return static_cast<const json*>(nullptr);
    if (!i->is_object())
      return failure{errc::invalid_config,
                     name(key) + " must be an object, got " + dump(*i)};
    return &*i;
  }

  const json* raw(const char* key) {
    seen_.insert(key);
    auto i = obj_.find(key);
    return i == obj_.end() ? nullptr : &*i;
  }

  /// The first key that no reader asked for: most likely a typo.
  std::optional<failure> unknown_keys() const {
    for (auto& [k, v] : obj_.items())
      if (!seen_.count(k))
        return failure{errc::invalid_config,
                       "unknown config key '" + name(k.c_str()) + "'"};
    return std::nullopt;
  }

  std::string name(const char* key) const {
    return prefix_.empty() ? key : prefix_ + "." + key;
  }

private:
  const json& obj_;
  std::string prefix_;
  std::set<std::string, std::less<>> seen_;
};

/// The built-in tools' settings and per-tool overrides, under `tools`.
std::optional<failure> read_tool_settings(reader& top, engine_config& cfg) {
  auto http = top.object("http_get");
  if (!http)
    return http.error();
  if (*http) {
    reader r{**http, "tools.http_get"};
    auto& h = cfg.http_get;
    if (auto f = r.strings("allow_hosts", h.allow_hosts))
      return f;
    if (auto f = r.number("max_bytes", h.max_bytes, 1, int64_t{1} << 32))
      return f;
    if (auto f = r.number("timeout_ms", h.timeout_ms, 1, 3'600'000))
      return f;
    if (auto f = r.number("max_redirects", h.max_redirects, 0, 20))
      return f;
    if (auto f = r.unknown_keys())
      return f;
  }
  auto shell = top.object("shell");
  if (!shell)
    return shell.error();
  if (*shell) {
    reader r{**shell, "tools.shell"};
    auto& s = cfg.shell;
    if (auto f = r.string("bwrap", s.bwrap))
      return f;
    if (auto f = r.number("timeout_ms", s.timeout_ms, 1, 3'600'000))
      return f;
    if (auto f = r.number("cpu_seconds", s.cpu_seconds, 1, 86'400))
      return f;
    if (auto f = r.number("memory_bytes", s.memory_bytes, 1 << 20,
                          int64_t{1} << 40))
      return f;
    if (auto f = r.number("max_file_bytes", s.max_file_bytes, 1,
                          int64_t{1} << 40))
      return f;
    if (auto f = r.number("max_open_files", s.max_open_files, 16, 65'536))
      return f;
    if (auto f = r.number("max_output_bytes", s.max_output_bytes, 1,
                          int64_t{1} << 30))
      return f;
    if (auto f = r.unknown_keys())
      return f;
  }
  auto over = top.object("overrides");
  if (!over)
    return over.error();
  if (*over)
    for (auto& [name, spec] : (*over)->items()) {
      auto key = "tools.overrides." + name;
      if (!spec.is_object())
        return failure{errc::invalid_config, key + " must be an object"};
      reader r{spec, key};
      auto& o = cfg.tool_overrides[name];
      int64_t timeout = -1;
      int64_t ttl = -1;
      if (auto f = r.number("timeout_ms", timeout, 1, 86'400'000))
        return f;
      if (auto f = r.number("cache_ttl_ms", ttl, 0, 86'400'000))
        return f;
      if (timeout >= 0)
        o.timeout_ms = static_cast<uint32_t>(timeout);
      if (ttl >= 0)
        o.cache_ttl_ms = static_cast<uint32_t>(ttl);
      if (r.has("permissions")) {
        std::vector<std::string> perms;
        if (auto f = r.strings("permissions", perms))
          return f;
        o.permissions = std::move(perms);
      }
      if (auto f = r.unknown_keys())
        return f;
    }
  return std::nullopt;
}

/// MCP servers, by name, under `mcp_servers`.
std::optional<failure> read_mcp_servers(reader& top, engine_config& cfg) {
  auto servers = top.object("mcp_servers");
  if (!servers)
    return servers.error();
  if (!*servers)
    return std::nullopt;
  cfg.mcp_servers.clear();
  for (auto& [name, spec] : (*servers)->items()) {
    auto key = "mcp_servers." + name;
    if (!spec.is_object())
      return failure{errc::invalid_config, key + " must be an object"};
    reader r{spec, key};
    mcp::server_config s;
    s.name = name;
    if (auto f = r.string("command", s.command))
      return f;
    if (auto f = r.strings("args", s.args))
      return f;
    if (auto env = r.raw("env")) {
      if (!env->is_object())
        return failure{errc::invalid_config,
                       key + ".env must be an object of name -> value"};
      for (auto& [k, v] : env->items()) {
        if (!v.is_string())
          return failure{errc::invalid_config,
                         key + ".env." + k + " must be a string"};
        s.env[k] = v.get<std::string>();
      }
    }
    if (auto f = r.strings("permissions", s.permissions))
      return f;
    if (auto f = r.number("call_timeout_ms", s.call_timeout_ms, 1, 86'400'000))
      return f;
    if (auto f =
          r.number("start_timeout_ms", s.start_timeout_ms, 1, 600'000))
      return f;
    if (auto f =
          r.number("restart_initial_ms", s.restart_initial_ms, 1, 600'000))
      return f;
    if (auto f = r.number("restart_max_ms", s.restart_max_ms, 1, 3'600'000))
      return f;
    if (auto f = r.number("max_line_bytes", s.max_line_bytes, 1024,
                          int64_t{1} << 30))
      return f;
    if (auto f = r.unknown_keys())
      return f;
    cfg.mcp_servers.push_back(std::move(s));
  }
  return std::nullopt;
}

/// Reads one supervisor's policy at `key` into `pol`.
std::optional<failure> read_policy(const json& obj, const std::string& key,
                                   supervisor_policy& pol) {
  reader r{obj, key};
  std::string strategy = to_string(pol.strategy);
  if (auto f = r.string("strategy", strategy))
    return f;
  if (strategy == "one_for_one")
    pol.strategy = restart_strategy::one_for_one;
  else if (strategy == "one_for_all")
    pol.strategy = restart_strategy::one_for_all;
  else if (strategy == "rest_for_one")
    pol.strategy = restart_strategy::rest_for_one;
  else
    return failure{errc::invalid_config,
                   key +
                     ".strategy must be one_for_one, one_for_all or "
                     "rest_for_one, got '" +
                     strategy + "'"};
  if (auto f = r.number("intensity", pol.intensity, 0, 1000000))
    return f;
  constexpr int64_t day_ms = 86'400'000;
  int64_t period = pol.period.count();
  int64_t backoff = pol.backoff.count();
  int64_t shutdown = pol.shutdown.count();
  if (auto f = r.number("period_ms", period, 1, day_ms))
    return f;
  if (auto f = r.number("backoff_ms", backoff, 0, day_ms))
    return f;
  if (auto f = r.number("shutdown_ms", shutdown, 1, day_ms))
    return f;
  if (auto f = r.unknown_keys())
    return f;
  pol.period = std::chrono::milliseconds{period};
  pol.backoff = std::chrono::milliseconds{backoff};
  pol.shutdown = std::chrono::milliseconds{shutdown};
  return std::nullopt;
}

} // namespace

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

result<engine_config> apply_json(engine_config cfg, std::string_view text) {
  auto parsed = parse_object(text, "config", true);
  if (!parsed)
    return failure{errc::invalid_config, parsed.error().message};
  constexpr int64_t big = int64_t{1} << 40;
  reader top{*parsed, ""};
  std::string workspace = cfg.workspace.string();
  if (auto f = top.string("workspace", workspace))
    return *f;
  cfg.workspace = workspace;
  std::string data_dir = cfg.data_dir.string();
  if (auto f = top.string("data_dir", data_dir))
    return *f;
  cfg.data_dir = data_dir;
  if (auto f = top.string("log_level", cfg.log_level))
    return *f;
  if (auto f = top.number("max_file_bytes", cfg.max_file_bytes, 1, big))
    return *f;
  if (auto f = top.number("max_steps", cfg.max_steps, 1, 1000))
    return *f;
  if (auto f = top.number("tool_workers", cfg.tool_workers, 1, 256))
    return *f;
  if (auto f = top.number("planner_workers", cfg.planner_workers, 1, 64))
    return *f;
  auto tools = top.object("tools");
  if (!tools)
    return tools.error();
  if (*tools) {
    reader r{**tools, "tools"};
    if (auto f = r.number("queue", cfg.tool_queue, 1, 1'000'000))
      return *f;
    if (auto f = r.number("cache_entries", cfg.tool_cache_entries, 0,
                          10'000'000))
      return *f;
    if (auto f = read_tool_settings(r, cfg))
      return *f;
    if (auto f = r.unknown_keys())
      return *f;
  }
  if (auto f = read_mcp_servers(top, cfg))
    return *f;
  auto cluster = top.object("cluster");
  if (!cluster)
    return cluster.error();
  if (*cluster) {
    reader r{**cluster, "cluster"};
    int64_t beat = cfg.cluster_heartbeat.count();
    int64_t silent = cfg.cluster_connection_timeout.count();
    if (auto f = r.number("heartbeat_ms", beat, 0, 60'000))
      return *f;
    if (auto f = r.number("connection_timeout_ms", silent, 10, 600'000))
      return *f;
    if (r.raw("tool_nodes"))
      return failure{errc::invalid_config,
                     "cluster.tool_nodes was replaced by cluster.seeds (the "
                     "nodes to join) and cluster.roles (this node's roles: "
                     "leave out \"tools\" to run tools on the nodes that "
                     "offer them)"};
    int64_t gossip = cfg.cluster_gossip.count();
    if (auto f = r.number("gossip_ms", gossip, 10, 600'000))
      return *f;
    cfg.cluster_gossip = std::chrono::milliseconds{gossip};
    if (auto f = r.string("name", cfg.cluster_name))
      return *f;
    if (auto f = r.string("listen", cfg.cluster_listen))
      return *f;
    if (auto f = r.string("advertise", cfg.cluster_advertise))
      return *f;
    if (auto f = r.list("seeds", cfg.cluster_seeds))
      return *f;
    if (auto f = r.list("roles", cfg.cluster_roles))
      return *f;
    cfg.cluster_heartbeat = std::chrono::milliseconds{beat};
    cfg.cluster_connection_timeout = std::chrono::milliseconds{silent};
    auto tls = r.object("tls");
    if (!tls)
      return tls.error();
    if (*tls) {
      reader t{**tls, "cluster.tls"};
      std::string cert = cfg.cluster_tls.certificate.string();
      std::string key = cfg.cluster_tls.key.string();
      std::string ca = cfg.cluster_tls.cafile.string();
      if (auto f = t.string("certificate", cert))
        return *f;
      if (auto f = t.string("key", key))
        return *f;
      if (auto f = t.string("cafile", ca))
        return *f;
      if (auto f = t.unknown_keys())
        return *f;
      cfg.cluster_tls = {cert, key, ca};
    }
    if (auto f = r.unknown_keys())
      return *f;
  }
  if (auto f =
        top.number("max_parallel_calls", cfg.max_parallel_calls, 1, 1000))
    return *f;
  auto mem = top.object("memory");
  if (!mem)
    return mem.error();
  if (*mem) {
    reader r{**mem, "memory"};
    if (auto f = r.number("capacity", cfg.memory_capacity, 1, big))
      return *f;
    if (auto f = r.number("max_sessions", cfg.memory_max_sessions, 1, big))
      return *f;
    auto& lt = cfg.long_term;
    if (auto f = r.boolean("long_term", lt.enabled))
      return *f;
    if (auto f = r.number("max_entry_bytes", lt.max_entry_bytes, 1, 1 << 24))
      return *f;
    if (auto f = r.number("max_per_namespace", lt.max_per_namespace, 1, big))
      return *f;
    if (auto f = r.boolean("durable", lt.durable))
      return *f;
    if (auto f = r.number("readers", lt.readers, 1, 16))
      return *f;
    if (auto f = r.number("recall_limit", lt.recall_limit, 0, 50))
      return *f;
    int64_t ttl_days = lt.ttl.count() / 86'400'000;
    if (auto f = r.number("ttl_days", ttl_days, 0, 36500))
      return *f;
    lt.ttl = std::chrono::milliseconds{ttl_days * 86'400'000};
    if (auto f = r.unknown_keys())
      return *f;
  }
  auto guard = top.object("guardrail");
  if (!guard)
    return guard.error();
  if (*guard) {
    reader r{**guard, "guardrail"};
    std::string rules = cfg.guardrail_rules.string();
    if (auto f = r.string("rules_file", rules))
      return *f;
    cfg.guardrail_rules = rules;
    if (auto f =
          r.number("max_input_bytes", cfg.guardrail.max_input_bytes, 1, big))
      return *f;
    if (auto pats = r.raw("deny_patterns")) {
      if (!pats->is_array())
        return failure{errc::invalid_config,
                       "guardrail.deny_patterns must be an array"};
      cfg.guardrail.deny_patterns.clear();
      for (auto& p : *pats) {
        if (!p.is_object() || !p.contains("name") || !p.contains("regex") ||
            !p["name"].is_string() || !p["regex"].is_string())
          return failure{errc::invalid_config,
                         "each guardrail.deny_patterns entry needs string "
                         "'name' and 'regex', got " +
                           dump(p)};
        cfg.guardrail.deny_patterns.push_back(
          {p["name"].get<std::string>(), p["regex"].get<std::string>()});
      }
    }
    if (auto f = r.unknown_keys())
      return *f;
  }
  auto tms = top.object("timeouts");
  if (!tms)
    return tms.error();
  if (*tms) {
    reader r{**tms, "timeouts"};
    int64_t role = cfg.timeouts.role.count();
    int64_t tool = cfg.timeouts.tool.count();
    int64_t task = cfg.timeouts.task.count();
    constexpr int64_t day_ms = 86'400'000;
    if (auto f = r.number("role_ms", role, 1, day_ms))
      return *f;
    if (auto f = r.number("tool_ms", tool, 1, day_ms))
      return *f;
    if (auto f = r.number("task_ms", task, 1, day_ms))
      return *f;
    if (auto f = r.unknown_keys())
      return *f;
    cfg.timeouts.role = std::chrono::milliseconds{role};
    cfg.timeouts.tool = std::chrono::milliseconds{tool};
    cfg.timeouts.task = std::chrono::milliseconds{task};
  }
  auto srv = top.object("serve");
  if (!srv)
    return srv.error();
  if (*srv) {
    reader r{**srv, "serve"};
    auto& sc = cfg.serve;
    if (auto f = r.string("listen", sc.listen))
      return *f;
    if (auto f = r.number("io_threads", sc.io_threads, 1, 64))
      return *f;
    if (auto f = r.number("max_body_bytes", sc.max_body_bytes, 1, 1 << 30))
      return *f;
    if (auto f = r.number("max_connections", sc.max_connections, 1, 1000000))
      return *f;
    int64_t io = sc.io_timeout.count();
    int64_t drain = sc.drain.count();
    if (auto f = r.number("io_timeout_ms", io, 1, 3600000))
      return *f;
    if (auto f = r.number("drain_ms", drain, 0, 3600000))
      return *f;
    sc.io_timeout = std::chrono::milliseconds{io};
    sc.drain = std::chrono::milliseconds{drain};
    if (auto f = r.real("rate_limit", sc.rate_limit, 0.0, 1e9))
      return *f;
    if (auto f = r.number("rate_burst", sc.rate_burst, 1, 1000000000))
      return *f;
    if (auto f = r.number("keep_finished", sc.keep_finished, 0, big))
      return *f;
    if (auto f = r.boolean("durable", sc.durable))
      return *f;
    if (auto f = r.unknown_keys())
      return *f;
  }
  auto acc = top.object("access");
  if (!acc)
    return acc.error();
  if (*acc) {
    reader r{**acc, "access"};
    if (auto roles = r.raw("roles")) {
      if (!roles->is_object())
        return failure{errc::invalid_config,
                       "access.roles must be an object of role -> "
                       "[permissions], got " +
                         dump(*roles)};
      // Named roles replace the default of the same name; others stay.
      for (auto& [role, perms] : roles->items()) {
        if (!perms.is_array())
          return failure{errc::invalid_config,
                         "access.roles." + role +
                           " must be an array of permission names"};
        auto& set = cfg.access.roles[role];
        set.clear();
        for (auto& p : perms) {
          auto parsed = p.is_string()
                          ? guardrail::permission_from(p.get<std::string>())
                          : std::nullopt;
          if (!parsed)
            return failure{errc::invalid_config,
                           "access.roles." + role + ": unknown permission " +
                             dump(p) +
                             " (read_memory, write_memory, execute_tools, "
                             "access_files, network_access)"};
          set.insert(*parsed);
        }
      }
    }
    if (auto ps = r.raw("principals")) {
      if (!ps->is_object())
        return failure{errc::invalid_config,
                       "access.principals must be an object of principal -> "
                       "role, got " +
                         dump(*ps)};
      for (auto& [principal, role] : ps->items()) {
        if (!role.is_string())
          return failure{errc::invalid_config,
                         "access.principals." + principal +
                           " must be a role name, got " + dump(role)};
        cfg.access.principals[principal] = role.get<std::string>();
      }
    }
    if (auto ks = r.raw("api_keys")) {
      auto bad = [&](const json& got) {
        return failure{errc::invalid_config,
                       "access.api_keys must be an array of {\"principal\": "
                       "name, \"sha256\": digest of the key}, got " +
                         dump(got)};
      };
      if (!ks->is_array())
        return bad(*ks);
      for (auto& k : *ks) {
        if (!k.is_object() || k.size() != 2 || !k.contains("principal") ||
            !k.contains("sha256") || !k["principal"].is_string() ||
            !k["sha256"].is_string())
          return bad(k);
        cfg.access.api_keys[k["sha256"].get<std::string>()] =
          k["principal"].get<std::string>();
      }
    }
    if (auto ts = r.raw("tools")) {
      auto bad = [&](const std::string& key, const json& got) {
        return failure{errc::invalid_config,
                       key + " must be an array of tool names, got " +
                         dump(got)};
      };
      if (!ts->is_object())
        return failure{errc::invalid_config,
                       "access.tools must be an object of role -> "
                       "{allow, deny}, got " +
                         dump(*ts)};
      for (auto& [role, lists] : ts->items()) {
        auto key = "access.tools." + role;
        if (!lists.is_object())
          return failure{errc::invalid_config,
                         key + " must be an object with 'allow' and/or "
                               "'deny', got " +
                           dump(lists)};
        auto& out = cfg.access.tools[role];
        for (auto& [which, names] : lists.items()) {
          if (which != "allow" && which != "deny")
            return failure{errc::invalid_config,
                           "unknown config key '" + key + "." + which + "'"};
          if (!names.is_array())
            return bad(key + "." + which, names);
          auto& set = which == "allow" ? out.allow : out.deny;
          for (auto& n : names) {
            if (!n.is_string())
              return bad(key + "." + which, names);
            set.insert(n.get<std::string>());
          }
        }
      }
    }
    if (auto f = r.unknown_keys())
      return *f;
  }
  // One provider's settings (also each entry of `providers`).
  auto read_provider = [&](reader& r, provider_config& p) -> std::optional<failure> {
    if (auto f = r.string("kind", p.kind))
      return f;
    if (auto f = r.string("model", p.model))
      return f;
    if (auto f = r.string("base_url", p.base_url))
      return f;
    if (r.has("api_key_env")) {
      std::string var;
      if (auto f = r.string("api_key_env", var))
        return f;
      p.api_key_env = var;
    }
    if (auto f = r.number("max_tokens", p.max_tokens, 1, 1000000))
      return f;
    if (auto f = r.boolean("stream", p.stream))
      return f;
    int64_t connect = p.connect_timeout.count(), total = p.timeout.count(),
            base = p.retry_base.count(), max = p.retry_max.count(),
            cool = p.breaker_cooldown.count();
    if (auto f = r.number("connect_timeout_ms", connect, 1, 600000))
      return f;
    if (auto f = r.number("timeout_ms", total, 1, 3600000))
      return f;
    if (auto f = r.number("max_retries", p.max_retries, 0, 20))
      return f;
    if (auto f = r.number("retry_base_ms", base, 1, 600000))
      return f;
    if (auto f = r.number("retry_max_ms", max, 1, 3600000))
      return f;
    if (auto f = r.number("max_concurrency", p.max_concurrency, 1, 100000))
      return f;
    if (auto f = r.number("breaker_failures", p.breaker_failures, 1, 1000000))
      return f;
    if (auto f = r.number("breaker_cooldown_ms", cool, 1, 3600000))
      return f;
    p.connect_timeout = std::chrono::milliseconds{connect};
    p.timeout = std::chrono::milliseconds{total};
    p.retry_base = std::chrono::milliseconds{base};
    p.retry_max = std::chrono::milliseconds{max};
    p.breaker_cooldown = std::chrono::milliseconds{cool};
    return std::nullopt;
  };
  if (auto named = top.raw("providers")) {
    if (!named->is_object())
      return failure{errc::invalid_config,
                     "providers must be an object of name -> provider settings"};
    for (auto& [name, spec] : named->items()) {
      if (!spec.is_object())
        return failure{errc::invalid_config,
                       "providers." + name + " must be an object"};
      reader r{spec, "providers." + name};
      auto& p = cfg.providers[name];
      if (auto f = read_provider(r, p))
        return *f;
      if (auto f = r.unknown_keys())
        return *f;
    }
  }
  auto budget = top.object("budget");
  if (!budget)
    return budget.error();
  if (*budget) {
    reader r{**budget, "budget"};
    if (auto f = r.number("max_tokens", cfg.max_task_tokens, 0, big))
      return *f;
    if (auto f = r.unknown_keys())
      return *f;
  }
  auto prov = top.object("provider");
  if (!prov)
    return prov.error();
  if (*prov) {
    reader r{**prov, "provider"};
    if (auto f = read_provider(r, cfg.provider))
      return *f;
    if (auto list = r.raw("fallback")) {
      if (!list->is_array())
        return failure{errc::invalid_config,
                       "provider.fallback must be an array of provider "
                       "names, got " +
                         dump(*list)};
      cfg.provider_fallback.clear();
      for (auto& x : *list) {
        if (!x.is_string())
          return failure{errc::invalid_config,
                         "provider.fallback entries must be strings, got " +
                           dump(x)};
        cfg.provider_fallback.push_back(x.get<std::string>());
      }
    }
    if (auto f = r.unknown_keys())
      return *f;
  }
  if (auto faults = top.raw("faults")) {
    if (!faults->is_object())
      return failure{errc::invalid_config, "faults must be an object"};
    for (auto& [role, spec] : faults->items()) {
      if (!is_fault_role(role))
        return failure{errc::invalid_config,
                       "faults: unknown role '" + role +
                         "' (memory, guardrail, planner, provider, "
                         "provider.1.." +
                         std::to_string(max_provider_fallbacks) + ", tools)"};
      if (!spec.is_object())
        return failure{errc::invalid_config,
                       "faults." + role + " must be an object"};
      reader r{spec, "faults." + role};
      fault_spec f;
      if (auto err = r.number("every", f.every, 0, 1000000000))
        return *err;
      if (auto x = r.raw("rate")) {
        if (!x->is_number() || x->get<double>() < 0 || x->get<double>() > 1)
          return failure{errc::invalid_config,
                         "faults." + role +
                           ".rate must be a number in 0..1, got " + dump(*x)};
        f.rate = x->get<double>();
      }
      std::string mode = to_string(f.mode);
      if (auto err = r.string("mode", mode))
        return *err;
      if (!from_string(mode, f.mode))
        return failure{errc::invalid_config,
                       "faults." + role +
                         ".mode must be crash, exit or stall, got '" + mode +
                         "'"};
      if (auto err = r.unknown_keys())
        return *err;
      cfg.faults[role] = f;
    }
  }
  auto sup = top.object("supervision");
  if (!sup)
    return sup.error();
  if (*sup) {
    reader outer{**sup, "supervision"};
    for (auto [pol, name] :
         {std::pair{&cfg.supervision.root, "root"},
          std::pair{&cfg.supervision.providers, "providers"},
          std::pair{&cfg.supervision.tool_executors, "tool_executors"},
        std::pair{&cfg.supervision.planners, "planners"}}) {
      auto obj = outer.object(name);
      if (!obj)
        return obj.error();
      if (*obj)
        if (auto f = read_policy(**obj, std::string{"supervision."} + name,
                                 *pol))
          return *f;
    }
    if (auto f = outer.unknown_keys())
      return *f;
  }
  if (auto f = top.unknown_keys())
    return *f;
  return cfg;
}

namespace {

/// Every way to cut `words` into consecutive groups joined by '_': the
/// config key paths a variable name may mean.
void key_paths(const std::vector<std::string>& words, size_t from,
               std::vector<std::string>& path,
               std::vector<std::vector<std::string>>& out) {
  if (from == words.size()) {
    out.push_back(path);
    return;
  }
  std::string key;
  for (size_t i = from; i < words.size(); ++i) {
    key += (i == from ? "" : "_") + words[i];
    path.push_back(key);
    key_paths(words, i + 1, path, out);
    path.pop_back();
  }
}

} // namespace

result<engine_config>
apply_environment(engine_config cfg,
                  const std::map<std::string, std::string>& env) {
  static const std::set<std::string, std::less<>> read_elsewhere{
    "TROUPE_API_KEYS", "TROUPE_APPROVAL_KEY"};
  if (auto keys = env.find("TROUPE_API_KEYS"); keys != env.end())
    if (auto ok = guardrail::add_api_keys(cfg.access, keys->second); !ok)
      return ok.error();
  for (auto& [name, text] : env) {
    if (name.rfind("TROUPE_", 0) != 0 || read_elsewhere.count(name))
      continue;
    std::vector<std::string> words;
    std::string lower;
    for (auto c : name.substr(7))
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t pos = 0; pos <= lower.size();) {
      auto us = lower.find('_', pos);
      words.push_back(lower.substr(pos, us - pos));
      if (us == std::string::npos)
        break;
      pos = us + 1;
    }
    auto value = json::parse(text, nullptr, false);
    if (value.is_discarded() || value.is_string())
      value = text;
    std::vector<std::vector<std::string>> paths;
    std::vector<std::string> path;
    key_paths(words, 0, path, paths);
    bool applied = false;
    for (auto& p : paths) {
      json patch = value;
      for (auto it = p.rbegin(); it != p.rend(); ++it)
        patch = json{{*it, patch}};
      auto next = apply_json(cfg, dump(patch));
      if (next) {
        cfg = std::move(*next);
        applied = true;
        break;
      }
      if (next.error().message.rfind("unknown config key", 0) != 0)
        return failure{errc::invalid_config,
                       name + ": " + next.error().message};
    }
    if (!applied)
      return failure{errc::invalid_config,
                     name + " does not name a config key (see "
                            "config/troupe.json; e.g. TROUPE_SERVE_LISTEN)"};
  }
  return cfg;
}

result<engine_config> load_file(engine_config cfg,
                                const std::filesystem::path& path) {
  std::ifstream in{path};
  if (!in)
    return failure{errc::invalid_config,
                   "cannot read config file '" + path.string() + "'"};
  std::stringstream buf;
  buf << in.rdbuf();
  auto res = apply_json(std::move(cfg), buf.str());
  if (!res)
    return failure{errc::invalid_config,
                   path.string() + ": " + res.error().message};
  return res;
}

} // namespace troupe
