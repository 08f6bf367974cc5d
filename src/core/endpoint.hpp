#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace troupe {

/// Splits "host:port" (the last colon); the port must be 0..65535.
std::optional<std::pair<std::string, uint16_t>>
parse_endpoint(const std::string& s);

} // namespace troupe
