#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace troupe {

/// Splits "host:port" (the last colon); the port must be 0..65535.
std::optional<std::pair<std::string, uint16_t>>
parse_endpoint(const std::string& s);

/// True for a host only this machine can reach: "localhost", 127.0.0.0/8
/// and ::1 (bracketed or not). "0.0.0.0" and "::" listen everywhere.
bool loopback_host(std::string_view host) noexcept;

} // namespace troupe
