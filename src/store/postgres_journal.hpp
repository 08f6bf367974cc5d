#pragma once

// The journal in a PostgreSQL database: each batch of queued writes is one
// transaction sent as one pipeline (one round trip), with one statement per
// kind of write over arrays (all accepts, all steps, all ends), so a batch
// costs about the same whatever its size; reads are pipelined too, and
// every query runs on the pool's threads. Free text (a task's input, a thread's summary) is stored as
// BYTEA, since PostgreSQL's TEXT cannot hold a NUL. CAF-free.

#include <memory>

#include "core/result.hpp"
#include "store/journal.hpp"
#include "store/pg.hpp"

namespace troupe::store {

/// The journal's schema version this build writes and reads.
/// 2: leases (owner, fence, expiry) and the turns of a thread's runs.
inline constexpr int journal_schema_version = 2;

/// Opens the journal on `pool`'s database: creates its tables (under an
/// advisory lock, so that replicas starting together do not race) or
/// migrates them, refusing a schema newer than this build's; `lease`:
/// whose leases it takes.
result<std::unique_ptr<journal>>
open_postgres_journal(std::shared_ptr<pg_pool> pool, lease_settings lease = {});

} // namespace troupe::store
