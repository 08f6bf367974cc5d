#include "support/stats.hpp"

#include <algorithm>
#include <cstddef>

namespace troupe::bench {

namespace {

/// The quantile of values already sorted.
double sorted_percentile(const std::vector<double>& xs, double p) {
  if (xs.empty())
    return 0;
  return xs[static_cast<size_t>(p * static_cast<double>(xs.size() - 1))];
}

} // namespace

double percentile(std::vector<double> xs, double p) {
  std::sort(xs.begin(), xs.end());
  return sorted_percentile(xs, p);
}

latency_summary summarize(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return {sorted_percentile(xs, 0.5), sorted_percentile(xs, 0.99)};
}

} // namespace troupe::bench
