#pragma once
// Summary statistics of timed runs. Percentiles interpolate linearly between order statistics
// (numpy's default), so the Python peers (numpy.percentile) report the same numbers for the
// same samples.
#include <vector>

namespace tessera::bench {

struct LatencyStats {
  double median_ms = 0;
  double p90_ms = 0;
  double mean_ms = 0;
  double min_ms = 0;
};

// `q` in [0, 100]; `samples` must not be empty.
double percentile(std::vector<double> samples, double q);
LatencyStats summarize_latencies(const std::vector<double>& samples_ms);

}  // namespace tessera::bench
