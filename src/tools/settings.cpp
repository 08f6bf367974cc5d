#include "tools/settings.hpp"

namespace troupe::tools {

namespace {

constexpr int64_t day_ms = 86'400'000;

const keys<http_get_config>& http_get_keys() {
  static const auto table =
    keys<http_get_config>{}
      .list("allow_hosts", &http_get_config::allow_hosts,
            "hosts http_get may fetch from (\"*.example.com\" for subdomains); "
            "none by default")
      .integer("max_bytes", &http_get_config::max_bytes, 1, int64_t{1} << 32,
               "largest response body read, in bytes")
      .integer("timeout_ms", &http_get_config::timeout_ms, 1, 3'600'000,
               "one fetch, end to end")
      .integer("max_redirects", &http_get_config::max_redirects, 0, 20,
               "redirects followed (each to an allowed host)");
  return table;
}

const keys<shell_config>& shell_keys() {
  static const auto table =
    keys<shell_config>{}
      .text("bwrap", &shell_config::bwrap, "the bubblewrap program")
      .integer("timeout_ms", &shell_config::timeout_ms, 1, 3'600'000,
               "wall-clock limit of one command")
      .integer("cpu_seconds", &shell_config::cpu_seconds, 1, 86'400,
               "CPU limit of one command")
      .integer("memory_bytes", &shell_config::memory_bytes, 1 << 20,
               int64_t{1} << 40, "address-space limit of one command")
      .integer("max_file_bytes", &shell_config::max_file_bytes, 1,
               int64_t{1} << 40, "largest file a command may write")
      .integer("max_open_files", &shell_config::max_open_files, 16, 65'536,
               "open files per command")
      .integer("max_output_bytes", &shell_config::max_output_bytes, 1,
               int64_t{1} << 30, "stdout and stderr kept, each");
  return table;
}

std::optional<failure> read_override(const json& v, tool_override& o,
                                     const std::string& key) {
  struct raw {
    int64_t timeout = -1;
    int64_t ttl = -1;
    std::vector<std::string> permissions;
  };
  static const auto table =
    keys<raw>{}
      .integer("timeout_ms", &raw::timeout, 1, day_ms, "the tool's timeout")
      .integer("cache_ttl_ms", &raw::ttl, 0, day_ms,
               "how long a result is cached (0: never)")
      .list("permissions", &raw::permissions,
            "permissions a principal needs to call it");
  raw r;
  if (auto f = table.read(v, r, key))
    return f;
  if (r.timeout >= 0)
    o.timeout_ms = static_cast<uint32_t>(r.timeout);
  if (r.ttl >= 0)
    o.cache_ttl_ms = static_cast<uint32_t>(r.ttl);
  if (v.contains("permissions"))
    o.permissions = std::move(r.permissions);
  return std::nullopt;
}

} // namespace

const keys<settings>& settings_keys() {
  static const auto table =
    keys<settings>{}
      .integer("queue", &settings::queue, 1, 1'000'000,
               "blocking calls that may wait for a worker (then: overloaded)")
      .integer("cache_entries", &settings::cache_entries, 0, 10'000'000,
               "results the tool result cache holds (0: no cache)")
      .section("http_get", &settings::http_get, http_get_keys(),
               "the http_get tool")
      .section("shell", &settings::shell, shell_keys(),
               "the shell tool's sandbox limits")
      .custom(
        "overrides",
        [](const json& v, settings& out,
           const std::string& path) -> std::optional<failure> {
          if (!v.is_object())
            return config_error(path + " must be an object, got " + dump(v));
          for (auto& [name, spec] : v.items()) {
            auto key = path + "." + name;
            if (!spec.is_object())
              return config_error(key + " must be an object");
            if (auto f = read_override(spec, out.overrides[name], key))
              return f;
          }
          return std::nullopt;
        },
        [](const settings&) {
          return json{
            {"type", "object"},
            {"additionalProperties",
             {{"type", "object"},
              {"properties",
               {{"timeout_ms", {{"type", "integer"}}},
                {"cache_ttl_ms", {{"type", "integer"}}},
                {"permissions",
                 {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}};
        },
        "per tool name: timeout_ms, cache_ttl_ms, permissions");
  return table;
}

result<bool> validate(const settings& cfg) {
  if (auto ok = validate(cfg.http_get); !ok)
    return config_error("tools.http_get: " + ok.error().message);
  return true;
}

} // namespace troupe::tools
