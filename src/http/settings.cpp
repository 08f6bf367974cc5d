#include "http/settings.hpp"

#include "core/endpoint.hpp"

namespace troupe::http {

const keys<serve_config>& serve_keys() {
  using s = serve_config;
  constexpr int64_t big = int64_t{1} << 40;
  static const auto table =
    keys<s>{}
      .text("listen", &s::listen, "HOST:PORT to listen on (port 0: any free)")
      .integer("io_threads", &s::io_threads, 1, 64,
               "threads of the HTTP server")
      .integer("max_body_bytes", &s::max_body_bytes, 1, 1 << 30,
               "largest request body, in bytes (413 beyond)")
      .integer("max_json_depth", &s::max_json_depth, 1, 512,
               "deepest nesting of a JSON body (400 beyond)")
      .integer("max_connections", &s::max_connections, 1, 1000000,
               "most open connections (503 beyond)")
      .millis("io_timeout_ms", &s::io_timeout, 1, 3600000,
              "a request must arrive within this time (408 beyond)")
      .millis("drain_ms", &s::drain, 0, 3600000,
              "on SIGTERM/SIGINT: how long tasks in flight may run on")
      .real("rate_limit", &s::rate_limit, 0.0, 1e9,
            "requests per second per principal (0: no limit)")
      .integer("rate_burst", &s::rate_burst, 1, 1000000000,
               "burst above the rate")
      .integer("keep_finished", &s::keep_finished, 0, big,
               "finished tasks kept in memory for GET")
      .flag("durable", &s::durable,
            "fsync each journal commit (a task survives a power cut)")
      .text("metrics_token_env", &s::metrics_token_env,
            "variable holding the bearer token /metrics requires (empty: "
            "/metrics is open)");
  return table;
}

result<bool> validate(const serve_config& cfg) {
  if (!parse_endpoint(cfg.listen))
    return config_error("serve.listen must be HOST:PORT (port 0..65535), got '" +
                        cfg.listen + "'");
  if (auto f = serve_keys().check(cfg, "serve"))
    return *f;
  return true;
}

} // namespace troupe::http
