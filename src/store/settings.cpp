#include "store/settings.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

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

const keys<retention_settings>& retention_keys() {
  using r = retention_settings;
  static const auto table =
    keys<r>{}
      .integer("max_age_hours", &r::max_age_hours, 0, 24 * 365 * 100,
               "finished tasks older than this go (0: no age limit); their "
               "Idempotency-Keys with them")
      .integer("max_tasks", &r::max_tasks, 0, int64_t{1} << 40,
               "at most this many finished tasks are kept, the newest (0: "
               "no limit)")
      .millis("every_ms", &r::every, 1000, 86400000,
              "how often the pruner looks")
      .integer("batch", &r::batch, 1, 100000,
               "tasks one pruning transaction removes (writes go on "
               "between them)");
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
               "the PostgreSQL database, with backend postgres")
      .text("replica", &s::replica,
            "this process's name among the replicas sharing the store (\"\": "
            "one of its own); a replica restarted under the same name takes "
            "back its tasks at once")
      .section("retention", &s::retention, retention_keys(),
               "how long finished tasks are kept (never an unfinished task "
               "or a run of a thread that still exists)")
      .millis("lease_ms", &s::lease, 300, 3600000,
              "how long a running task's lease lasts unrenewed: a dead "
              "replica's tasks are taken over this long after its last "
              "renewal");
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
  if (cfg.replica.size() > 128 ||
      std::any_of(cfg.replica.begin(), cfg.replica.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x21 || c == 0x7f;
      }))
    return config_error("store.replica must be at most 128 characters, "
                        "without spaces or control characters");
  if (auto f = settings_keys().check(cfg, "store"))
    return *f;
  return true;
}

lease_settings lease_of(const settings& cfg) {
  lease_settings out;
  out.lease_ms = cfg.lease.count();
  if (!cfg.replica.empty()) {
    out.owner = cfg.replica;
  } else if (cfg.backend == "postgres") {
    // Unique to this process: two replicas on one host, or one restarted,
    // never share a name by chance.
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::random_device rd;
    char tag[9];
    std::snprintf(tag, sizeof tag, "%08x", rd());
    out.owner =
      std::string{host} + "-" + std::to_string(::getpid()) + "-" + tag;
  }
  return out;
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
