#pragma once

// Opens the durable state `store` names: the journal in SQLite files of the
// data directory, or in PostgreSQL through a pool. CAF-free.

#include <filesystem>
#include <functional>
#include <memory>

#include "core/result.hpp"
#include "store/journal.hpp"
#include "store/pg.hpp"
#include "store/settings.hpp"

namespace troupe::store {

/// The journal, and the pool under it (null with SQLite), for /ready and
/// /metrics.
struct opened_store {
  std::unique_ptr<store::journal> journal;
  std::shared_ptr<pg_pool> pool;
};

/// Opens the store of `cfg`: SQLite's `data_dir`/tasks.db (`durable`: each
/// commit synced), or the PostgreSQL database of `pool_settings(cfg,
/// getenv)`. Errors say which and why (a DSN's password masked).
result<opened_store>
open_store(const settings& cfg, const std::filesystem::path& data_dir,
           bool durable, const std::function<const char*(const char*)>& getenv);

} // namespace troupe::store
