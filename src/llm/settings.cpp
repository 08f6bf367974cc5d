#include "llm/settings.hpp"

#include <cstdlib>

namespace troupe::llm {

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

const keys<provider_config>& provider_keys() {
  using p = provider_config;
  static const auto table =
    keys<p>{}
      .text("kind", &p::kind, "offline, openai or anthropic")
      .text("model", &p::model, "the model name (required but for offline)")
      .text("base_url", &p::base_url,
            "default https://api.openai.com/v1 or https://api.anthropic.com/v1")
      .text("api_key_env", &p::api_key_env,
            "variable holding the API key (\"\": none); default "
            "OPENAI_API_KEY or ANTHROPIC_API_KEY")
      .integer("max_tokens", &p::max_tokens, 1, 1000000,
               "most completion tokens per call")
      .flag("stream", &p::stream, "stream the answer (SSE)")
      .millis("connect_timeout_ms", &p::connect_timeout, 1, 600000,
              "connecting to the provider")
      .millis("timeout_ms", &p::timeout, 1, 3600000,
              "one model call, end to end")
      .integer("max_retries", &p::max_retries, 0, 20,
               "retries after a network error, 429, 5xx or 529")
      .millis("retry_base_ms", &p::retry_base, 1, 600000,
              "first backoff (exponential, with jitter)")
      .millis("retry_max_ms", &p::retry_max, 1, 3600000,
              "longest backoff, also the most Retry-After honoured")
      .integer("max_concurrency", &p::max_concurrency, 1, 100000,
               "calls in flight at once")
      .integer("breaker_failures", &p::breaker_failures, 1, 1000000,
               "failed calls in a row that open the circuit")
      .millis("breaker_cooldown_ms", &p::breaker_cooldown, 1, 3600000,
              "how long an open circuit fails calls at once");
  return table;
}

const keys<primary_provider>& primary_keys() {
  static const auto table =
    keys<primary_provider>{}
      .include(provider_keys())
      .custom(
        "fallback",
        [](const json& v, primary_provider& out,
           const std::string&) -> std::optional<failure> {
          if (!v.is_array())
            return config_error("provider.fallback must be an array of "
                                "provider names, got " +
                                dump(v));
          std::vector<std::string> names;
          for (auto& x : v) {
            if (!x.is_string())
              return config_error(
                "provider.fallback entries must be strings, got " + dump(x));
            names.push_back(x.get<std::string>());
          }
          out.fallback = std::move(names);
          return std::nullopt;
        },
        [](const primary_provider& d) {
          return json{{"type", "array"},
                      {"items", {{"type", "string"}}},
                      {"maxItems", max_provider_fallbacks},
                      {"default", d.fallback}};
        },
        "providers to fall back to, in order: offline or a name from providers",
        [](const primary_provider& in,
           const std::string&) -> std::optional<failure> {
          if (in.fallback.size() > max_provider_fallbacks)
            return config_error("provider.fallback lists " +
                                std::to_string(in.fallback.size()) +
                                " providers; at most " +
                                std::to_string(max_provider_fallbacks));
          return std::nullopt;
        });
  return table;
}

result<bool> validate(const provider_config& p, const std::string& key) {
  if (p.kind != "offline" && p.kind != "openai" && p.kind != "anthropic")
    return config_error(key + ".kind must be offline, openai or anthropic, got '" +
                        p.kind + "'");
  if (p.kind == "offline")
    return true;
  if (p.model.empty())
    return config_error(key + ".model is required for a " + p.kind +
                        " provider");
  auto url = p.url();
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return config_error(key + ".base_url must start with http:// or https://, "
                              "got '" +
                        url + "'");
  return true;
}

result<bool> preflight(const provider_config& p, const std::string& key) {
  if (p.kind == "offline")
    return true;
  if (auto var = p.key_variable(); !var.empty()) {
    auto value = std::getenv(var.c_str());
    if (value == nullptr || *value == '\0')
      return config_error(key + ": the API key variable " + var +
                          " is not set (set it, or set " + key +
                          ".api_key_env to \"\" for a server that needs no "
                          "key)");
  }
  return true;
}

} // namespace troupe::llm
