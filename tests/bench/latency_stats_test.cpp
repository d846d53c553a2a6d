// Median and p90 as numpy.percentile computes them (linear interpolation), so the peers agree.
#include <gtest/gtest.h>

#include "runtime/bench/latency_stats.h"
#include "tessera/error.h"

namespace tessera::bench {
namespace {

TEST(LatencyStats, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(percentile({3, 1, 2}, 50), 2);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
}

TEST(LatencyStats, P90InterpolatesLikeNumpy) {
  // numpy.percentile(range(1, 11), 90) == 9.1; of [10, 20, 30, 40, 50] == 46.0
  EXPECT_DOUBLE_EQ(percentile({10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 90), 9.1);
  EXPECT_DOUBLE_EQ(percentile({50, 10, 40, 20, 30}, 90), 46.0);
  EXPECT_DOUBLE_EQ(percentile({7}, 90), 7);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 0), 1);
  EXPECT_DOUBLE_EQ(percentile({1, 2}, 100), 2);
}

TEST(LatencyStats, Summary) {
  LatencyStats s = summarize_latencies({5, 1, 4, 2, 3});
  EXPECT_DOUBLE_EQ(s.median_ms, 3);
  EXPECT_DOUBLE_EQ(s.p90_ms, 4.6);
  EXPECT_DOUBLE_EQ(s.mean_ms, 3);
  EXPECT_DOUBLE_EQ(s.min_ms, 1);
}

TEST(LatencyStats, RefusesEmptyOrOutOfRange) {
  EXPECT_THROW(percentile({}, 50), Error);
  EXPECT_THROW(percentile({1}, 101), Error);
}

}  // namespace
}  // namespace tessera::bench
