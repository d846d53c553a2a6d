// Merging peer rows into tessera's: grouping per case, ratios, rows tessera did not run.
#include <gtest/gtest.h>

#include "runtime/bench/result_merge.h"
#include "runtime/bench/result_table.h"

namespace tessera::bench {
namespace {

BenchResult row(const std::string& engine, int64_t batch, std::optional<double> median_ms) {
  BenchResult r;
  r.engine = engine;
  r.config = {"bert-base", "cpu", "float32", batch, 128};
  if (median_ms) r.latency = LatencyStats{*median_ms, *median_ms, *median_ms, *median_ms};
  else r.error = "not installed";
  return r;
}

TEST(ResultMerge, GroupsPeersUnderTheirCaseWithRatios) {
  std::vector<BenchResult> merged = merge_results(
      {row("tessera", 1, 50), row("tessera", 8, 400)},
      {row("torch-eager", 1, 100), row("torch-eager", 8, 200), row("mlx", 1, std::nullopt), row("mlx", 8, 800)});
  ASSERT_EQ(merged.size(), 6u);
  std::vector<std::string> order;
  for (const BenchResult& r : merged) order.push_back(r.engine + "@" + std::to_string(r.config.batch));
  EXPECT_EQ(order, (std::vector<std::string>{"tessera@1", "torch-eager@1", "mlx@1", "tessera@8", "torch-eager@8",
                                             "mlx@8"}));
  EXPECT_FALSE(merged[0].ratio_vs_tessera.has_value());
  EXPECT_DOUBLE_EQ(*merged[1].ratio_vs_tessera, 2.0);
  EXPECT_FALSE(merged[2].ratio_vs_tessera.has_value());  // the peer did not run
  EXPECT_DOUBLE_EQ(*merged[4].ratio_vs_tessera, 0.5);
  EXPECT_DOUBLE_EQ(*merged[5].ratio_vs_tessera, 2.0);
}

TEST(ResultMerge, NoRatioWhenTesseraFailedAndUnmatchedPeersKept) {
  std::vector<BenchResult> merged = merge_results({row("tessera", 1, std::nullopt)},
                                                  {row("torch-sdpa", 1, 10), row("torch-sdpa", 32, 10)});
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_FALSE(merged[1].ratio_vs_tessera.has_value());
  EXPECT_EQ(merged[2].config.batch, 32);
}

TEST(ResultTable, OneMarkdownRowPerResult) {
  std::vector<BenchResult> merged = merge_results({row("tessera", 1, 50)}, {row("torch-eager", 1, 100)});
  std::string table = format_table(merged);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);  // header, rule, two rows
  EXPECT_NE(table.find("| 1×128     | torch-eager |"), std::string::npos) << table;
  EXPECT_NE(table.find("2.00×"), std::string::npos) << table;
}

}  // namespace
}  // namespace tessera::bench
