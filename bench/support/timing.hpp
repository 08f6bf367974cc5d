#pragma once

// Bench support: elapsed time on the steady clock, as a double. Inline, so
// a timed loop costs what it did with the expression written out.

#include <chrono>

namespace troupe::bench {

/// Seconds from `t0` to now.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
    .count();
}

/// Milliseconds from `t0` to now.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(
           std::chrono::steady_clock::now() - t0)
    .count();
}

/// Microseconds from `t0` to now.
inline double us_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(
           std::chrono::steady_clock::now() - t0)
    .count();
}

} // namespace troupe::bench
