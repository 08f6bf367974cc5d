#pragma once

// Bench support: the summary statistics the figure lines print.

#include <vector>

namespace troupe::bench {

/// The `p`-quantile (`p` in [0, 1]) of `xs`: the value at index
/// floor(p * (n - 1)) of the sorted values, without interpolation (the
/// median of an even count is the lower of the two middle values); 0 when
/// `xs` is empty.
double percentile(std::vector<double> xs, double p);

/// The median and the 99th percentile of a set of measurements.
struct latency_summary {
  /// `percentile(xs, 0.5)`.
  double p50 = 0;
  /// `percentile(xs, 0.99)`.
  double p99 = 0;
};

/// The p50 and p99 of `xs` as `percentile` computes them, sorting once.
latency_summary summarize(std::vector<double> xs);

} // namespace troupe::bench
