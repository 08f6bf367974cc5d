#include "support/output.hpp"

#include <cstdarg>
#include <cstdio>

namespace troupe::bench {

void print_figure(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::vprintf(fmt, args);
  va_end(args);
  std::fflush(stdout);
}

} // namespace troupe::bench
