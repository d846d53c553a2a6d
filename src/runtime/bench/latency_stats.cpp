#include "runtime/bench/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tessera/error.h"

namespace tessera::bench {

double percentile(std::vector<double> samples, double q) {
  TESSERA_CHECK(!samples.empty(), "bench", "no samples to summarise");
  TESSERA_CHECK(q >= 0 && q <= 100, "bench", "percentile must be in [0, 100]");
  std::sort(samples.begin(), samples.end());
  double rank = q / 100.0 * double(samples.size() - 1);
  size_t below = size_t(std::floor(rank));
  size_t above = std::min(below + 1, samples.size() - 1);
  double fraction = rank - double(below);
  return samples[below] + (samples[above] - samples[below]) * fraction;
}

LatencyStats summarize_latencies(const std::vector<double>& samples_ms) {
  LatencyStats s;
  s.median_ms = percentile(samples_ms, 50);
  s.p90_ms = percentile(samples_ms, 90);
  s.mean_ms = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) / double(samples_ms.size());
  s.min_ms = *std::min_element(samples_ms.begin(), samples_ms.end());
  return s;
}

}  // namespace tessera::bench
