#include "store/settings.hpp"

namespace troupe::store {

namespace {

const keys<pg_settings>& postgres_keys() {
  using p = pg_settings;
  static const auto table =
    keys<p>{}
      .text("dsn", &p::dsn,
            "libpq connection string or URI (\"\": TROUPE_STORE_DSN, then "
            "DATABASE_URL); its password is never logged")
      .integer("min_connections", &p::min_connections, 1, 1000,
               "connections the pool keeps open")
      .integer("max_connections", &p::max_connections, 1, 1000,
               "most connections the pool opens under load")
      .millis("statement_timeout_ms", &p::statement_timeout, 1, 3600000,
              "longest one statement may run")
      .millis("connect_timeout_ms", &p::connect_timeout, 1000, 600000,
              "longest a connection attempt may take");
  return table;
}

} // namespace

const keys<settings>& settings_keys() {
  using s = settings;
  static const auto table =
    keys<s>{}
      .text("backend", &s::backend,
            "sqlite (files in the data directory, one process) or postgres "
            "(a database several replicas share)")
      .section("postgres", &s::postgres, postgres_keys(),
               "the PostgreSQL database, with backend postgres");
  return table;
}

result<bool> validate(const settings& cfg) {
  if (cfg.backend != "sqlite" && cfg.backend != "postgres")
    return config_error("store.backend must be sqlite or postgres, got '" +
                        cfg.backend + "'");
  if (cfg.postgres.min_connections > cfg.postgres.max_connections)
    return config_error("store.postgres.min_connections (" +
                        std::to_string(cfg.postgres.min_connections) +
                        ") must not be above store.postgres.max_connections (" +
                        std::to_string(cfg.postgres.max_connections) + ")");
  if (auto f = settings_keys().check(cfg, "store"))
    return *f;
  return true;
}

result<pg_settings>
pool_settings(const settings& cfg,
              const std::function<const char*(const char*)>& getenv) {
  auto out = cfg.postgres;
  for (auto var : {"TROUPE_STORE_DSN", "DATABASE_URL"})
    if (out.dsn.empty())
      if (const char* v = getenv(var))
        out.dsn = v;
  if (out.dsn.empty())
    return config_error("store.backend is postgres but no database is named: "
                        "set store.postgres.dsn, TROUPE_STORE_DSN or "
                        "DATABASE_URL");
  return out;
}

} // namespace troupe::store
