#pragma once

// The command line's human rendering; the JSON encoding is core/codec.hpp.

#include <string>
#include <vector>

#include "core/types.hpp"

namespace troupe::cli {

/// The human-readable result: the answer, then what was recalled and
/// remembered.
std::string to_text(const task_result& r);

/// The supervision tree as text, one child per line under its supervisor:
///   root
///   ├── monitor            running     restarts 0
///   ├── providers          running     restarts 0
///   │   └── provider       restarting  restarts 2  last exit: …
std::string supervision_text(const std::vector<child_status>& rows);

} // namespace troupe::cli
