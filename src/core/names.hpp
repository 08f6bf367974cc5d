#pragma once

#include <string_view>

namespace troupe {

/// True for a name that comes from outside and may become part of a key or
/// a path (an agent, a session, a memory namespace): 1-64 characters of
/// A-Z a-z 0-9 _ . - (no path separators, no control characters).
bool valid_name(std::string_view name);

} // namespace troupe
