#include "store/store.hpp"

#include "store/postgres_journal.hpp"
#include "store/sqlite_journal.hpp"

namespace troupe::store {

result<opened_store>
open_store(const settings& cfg, const std::filesystem::path& data_dir,
           bool durable,
           const std::function<const char*(const char*)>& getenv) {
  opened_store out;
  if (cfg.backend != "postgres") {
    auto j = open_sqlite_journal(data_dir / "tasks.db", durable, lease_of(cfg));
    if (!j)
      return j.error();
    out.journal = std::move(*j);
    return out;
  }
  auto ps = pool_settings(cfg, getenv);
  if (!ps)
    return ps.error();
  auto pool = pg_pool::open(*ps);
  if (!pool)
    return pool.error();
  out.pool = std::shared_ptr<pg_pool>{std::move(*pool)};
  auto j = open_postgres_journal(out.pool, lease_of(cfg));
  if (!j)
    return j.error();
  out.journal = std::move(*j);
  return out;
}

} // namespace troupe::store
