#include "memory/settings.hpp"

namespace troupe::memory {

const keys<settings>& settings_keys() {
  constexpr int64_t big = int64_t{1} << 40;
  constexpr int64_t day_ms = 86'400'000;
  static const auto table =
    keys<settings>{}
      .integer("capacity", &settings::capacity, 1, big,
               "short-term entries kept per session (LRU beyond)")
      .integer("max_sessions", &settings::max_sessions, 1, big,
               "short-term sessions kept (LRU beyond)")
      .flag("long_term", &settings::long_term,
            "keep long-term memory in data_dir/memory.db")
      .integer("max_entry_bytes", &settings::max_entry_bytes, 1, 1 << 24,
               "largest memory accepted, in bytes")
      .integer("max_per_namespace", &settings::max_per_namespace, 1, big,
               "most memories kept per namespace (the oldest go first)")
      .flag("durable", &settings::durable,
            "fsync each commit: memories survive a power cut")
      .integer("readers", &settings::readers, 1, 16,
               "reader connections (recall never waits behind writes)")
      .integer("recall_limit", &settings::recall_limit, 0, 50,
               "memories recalled before planning")
      .flag("redact_on_store", &settings::redact_on_store,
            "mask what the guardrail's output rules redact before a memory "
            "is stored; a memory a block rule matches is refused")
      .custom(
        "ttl_days",
        [](const json& v, settings& out,
           const std::string& path) -> std::optional<failure> {
          if (auto f = integer_in(v, path, 0, 36500))
            return f;
          out.ttl = std::chrono::milliseconds{v.get<int64_t>() * day_ms};
          return std::nullopt;
        },
        [](const settings& d) {
          return json{{"type", "integer"},
                      {"minimum", 0},
                      {"maximum", 36500},
                      {"default", d.ttl.count() / day_ms}};
        },
        "lifetime of a stored memory in days; 0: forever",
        [](const settings& in,
           const std::string& path) -> std::optional<failure> {
          if (in.ttl.count() < 0)
            return config_error(path + " must be >= 0, got " +
                                std::to_string(in.ttl.count() / day_ms));
          return std::nullopt;
        });
  return table;
}

std::optional<long_term_config>
long_term_of(const settings& cfg, const std::filesystem::path& data_dir) {
  if (data_dir.empty() || !cfg.long_term)
    return std::nullopt;
  long_term_config out;
  out.file = data_dir / "memory.db";
  out.max_entry_bytes = cfg.max_entry_bytes;
  out.max_per_namespace = cfg.max_per_namespace;
  out.durable = cfg.durable;
  return out;
}

} // namespace troupe::memory
