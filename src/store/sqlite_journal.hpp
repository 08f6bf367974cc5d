#pragma once

// The journal in a SQLite file (WAL) on this node: the default, for one
// process. Reads use a connection of their own. CAF-free.

#include <filesystem>
#include <memory>

#include "core/result.hpp"
#include "store/journal.hpp"

namespace troupe::store {

/// Opens (creating, migrating) the journal at `file`; `durable`: every
/// commit is synced to disk; `lease`: whose leases it takes. Errors name
/// the file and SQLite's reason.
result<std::unique_ptr<journal>>
open_sqlite_journal(const std::filesystem::path& file, bool durable,
                    lease_settings lease = {});

} // namespace troupe::store
