#pragma once

// Where the durable state lives (`store`): SQLite files in the data
// directory (the default, for one process), or a PostgreSQL database that
// several replicas share. CAF-free.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/keys.hpp"
#include "core/result.hpp"
#include "store/pg.hpp"
#include "store/policies.hpp"

namespace troupe::store {

struct settings {
  /// "sqlite" or "postgres".
  std::string backend = "sqlite";
  /// The database and the pool (its `dsn` "" takes TROUPE_STORE_DSN, then
  /// DATABASE_URL, from the environment).
  pg_settings postgres;
  /// This process's name among the replicas sharing the store ("": with
  /// SQLite "local", with PostgreSQL one of its own, host-pid-random).
  std::string replica;
  /// How long a running task's lease lasts unrenewed: a replica that dies
  /// has its tasks taken over this long after its last renewal.
  std::chrono::milliseconds lease{10000};
  /// How long finished tasks are kept.
  retention_settings retention;
};

/// The leases this process takes: `cfg.replica` or a name of its own.
lease_settings lease_of(const settings& cfg);

const keys<settings>& settings_keys();

/// Checks `cfg` beyond its declarations: a known backend. Pure.
result<bool> validate(const settings& cfg);

/// The pool settings for `cfg`: its DSN, else `getenv`("TROUPE_STORE_DSN"),
/// else `getenv`("DATABASE_URL"); fails (naming the three places) if none
/// is set.
result<pg_settings>
pool_settings(const settings& cfg,
              const std::function<const char*(const char*)>& getenv);

} // namespace troupe::store
