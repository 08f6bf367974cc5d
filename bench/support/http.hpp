#pragma once

// Bench support: one HTTP exchange with a server on 127.0.0.1, blocking.

#include <cstdint>
#include <string>

namespace troupe::bench {

/// Sends `bytes` (a whole request, usually with `Connection: close`) on a
/// fresh connection and returns everything read until the server closes
/// it; "" if the connection could not be made or written.
std::string http_exchange(uint16_t port, const std::string& bytes);

} // namespace troupe::bench
