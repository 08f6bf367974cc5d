#pragma once

// Bench support: the figure lines on stdout (one JSON object per line, the
// format docs/benchmarks.md quotes).

namespace troupe::bench {

/// Prints one figure line with printf's `fmt` and arguments (the caller
/// writes the trailing newline) and flushes stdout, so each line is out as
/// soon as its scenario ends, even when stdout is a pipe.
[[gnu::format(printf, 1, 2)]] void print_figure(const char* fmt, ...);

} // namespace troupe::bench
