#include "config/config.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include "core/json.hpp"

namespace troupe {

const keys<engine_config>& config_keys() {
  static const auto table =
    keys<engine_config>{}
      .include(engine_keys())
      .text("log_level", &engine_config::log_level,
            "trace, debug, info, warn, error, critical or off (empty: the "
            "command line's)")
      .section("cluster", &engine_config::cluster, cluster::settings_keys(),
               "this node in a cluster")
      .section("serve", &engine_config::serve, http::serve_keys(),
               "the daemon, troupe serve")
      .section("store", &engine_config::store, store::settings_keys(),
               "where the durable state lives (the task journal, threads)");
  return table;
}

json config_schema() {
  auto out = config_keys().schema(engine_config{});
  out["$schema"] = "http://json-schema.org/draft-07/schema#";
  out["title"] = "Troupe config file";
  return out;
}

result<bool> validate(const engine_config& cfg) {
  static const std::set<std::string> levels{
    "", "trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(cfg.log_level))
    return config_error("log_level must be trace, debug, info, warn, error, "
                        "critical or off, got '" +
                        cfg.log_level + "'");
  if (auto ok = http::validate(cfg.serve); !ok)
    return ok;
  if (auto ok = store::validate(cfg.store); !ok)
    return ok;
  if (auto ok = cluster::validate(cfg.cluster); !ok)
    return ok;
  return validate(static_cast<const engine_settings&>(cfg));
}

result<bool> check(const engine_config& cfg) {
  if (auto ok = validate(cfg); !ok)
    return ok;
  return preflight(cfg);
}

result<engine_config> apply_json(engine_config cfg, std::string_view text) {
  auto parsed = parse_object(text, "config", {.comments = true});
  if (!parsed)
    return config_error(parsed.error().message);
  if (auto f = config_keys().read(*parsed, cfg, ""))
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
    // A value that is not JSON is a string; one that opens an array or an
    // object must be valid JSON (and within the limits).
    json value = text;
    if (auto parsed = parse_json(text, name); parsed && !parsed->is_string())
      value = std::move(*parsed);
    else if (!parsed && !text.empty() &&
             (text.front() == '[' || text.front() == '{'))
      return config_error(parsed.error().message);
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
        return config_error(name + ": " + next.error().message);
    }
    if (!applied)
      return config_error(name + " does not name a config key (see "
                                 "config/troupe.json; e.g. TROUPE_SERVE_LISTEN)");
  }
  return cfg;
}

result<engine_config> load_file(engine_config cfg,
                                const std::filesystem::path& path) {
  std::ifstream in{path};
  if (!in)
    return config_error("cannot read config file '" + path.string() + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  auto res = apply_json(std::move(cfg), buf.str());
  if (!res)
    return config_error(path.string() + ": " + res.error().message);
  return res;
}

} // namespace troupe
