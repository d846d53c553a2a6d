// Grid expansion and validation, and `tessera bench` argument parsing through --dry-run.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/bench/bench_grid.h"
#include "support/cli_runner.h"
#include "tessera/device.h"
#include "tessera/error.h"

namespace tessera::bench {
namespace {

TEST(BenchGrid, ExpandsModelMajorThenDeviceDtypeBatchSequence) {
  BenchGrid grid{{"a", "b"}, {"cpu"}, {"float32", "bfloat16"}, {1, 8}, {16, 128}};
  std::vector<BenchCase> cases = expand(grid);
  ASSERT_EQ(cases.size(), 16u);
  EXPECT_EQ(cases[0], (BenchCase{"a", "cpu", "float32", 1, 16}));
  EXPECT_EQ(cases[1], (BenchCase{"a", "cpu", "float32", 1, 128}));
  EXPECT_EQ(cases[2], (BenchCase{"a", "cpu", "float32", 8, 16}));
  EXPECT_EQ(cases[4], (BenchCase{"a", "cpu", "bfloat16", 1, 16}));
  EXPECT_EQ(cases[8], (BenchCase{"b", "cpu", "float32", 1, 16}));
}

TEST(BenchGrid, PaperAndQuickGrids) {
  BenchGrid paper = paper_grid({"bert-base"}, {"cpu"});
  EXPECT_EQ(paper.batches, (std::vector<int64_t>{1, 8, 32, 128}));
  EXPECT_EQ(paper.seqs, (std::vector<int64_t>{16, 128, 512}));
  EXPECT_EQ(expand(paper).size(), 12u);
  BenchGrid quick = quick_grid({"bert-base", "roberta-base", "xlm-roberta-base"}, {"cpu"});
  EXPECT_EQ(expand(quick).size(), 12u);
  EXPECT_EQ(quick.dtypes, (std::vector<std::string>{"float32"}));
}

TEST(BenchGrid, ValidateRefusesBadValues) {
  BenchGrid good{{"m"}, {"cpu"}, {"float32"}, {1}, {16}};
  BenchSettings settings;
  EXPECT_NO_THROW(validate(good, settings));
  auto refused = [&](BenchGrid grid, BenchSettings s) { EXPECT_THROW(validate(grid, s), Error); };
  BenchGrid g = good;
  g.batches = {0};
  refused(g, settings);
  g = good;
  g.seqs = {1};
  refused(g, settings);
  g = good;
  g.dtypes = {"int8"};
  refused(g, settings);
  g = good;
  g.devices = {"tpu"};
  refused(g, settings);
  g = good;
  g.models = {};
  refused(g, settings);
  BenchSettings s = settings;
  s.runs = kMinTimedRuns - 1;
  refused(good, s);
  s = settings;
  s.padding = 1.0;
  refused(good, s);
  s = settings;
  s.warmup = 0;
  refused(good, s);
  if (!cuda_available()) {
    g = good;
    g.devices = {"cuda"};
    refused(g, settings);
  }
}

class BenchCli : public testing_support::CliTest {};

TEST_F(BenchCli, DryRunPrintsTheExpandedGrid) {
  auto r = run("bench --dry-run --models bert-base,roberta-base --batch 1,8 --seq 16 --device cpu --dtype float32,bfloat16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "bert-base cpu float32 1x16\nbert-base cpu float32 8x16\nbert-base cpu bfloat16 1x16\n"
            "bert-base cpu bfloat16 8x16\nroberta-base cpu float32 1x16\nroberta-base cpu float32 8x16\n"
            "roberta-base cpu bfloat16 1x16\nroberta-base cpu bfloat16 8x16\n");
}

TEST_F(BenchCli, DefaultGridIsTheQuickOne) {
  auto r = run("bench --dry-run --device cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 12);
  EXPECT_NE(r.out.find("xlm-roberta-base cpu float32 8x128\n"), std::string::npos);
  auto paper = run("bench --dry-run --device cpu --grid paper --models bert-base");
  EXPECT_NE(paper.out.find("bert-base cpu float32 128x512\n"), std::string::npos);
}

// A causal LM is timed as llama-bench does: prefill of the prompt, and one decode step after it
// (tokens/s = batch / step time).
TEST_F(BenchCli, CausalLMsReportPrefillAndDecode) {
  std::filesystem::path llama = std::filesystem::path(TESSERA_FIXTURES) / "decoders" / "llama";
  std::filesystem::path json = dir_ / "out.json";
  auto r = run("bench --models " + testing_support::quoted(llama) + " --batch 2 --seq 8 --runs 10 --json " +
               testing_support::quoted(json) + " --cache-dir " + testing_support::quoted(dir_ / "cache"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2×8 prefill"), std::string::npos) << r.out;
  nlohmann::json results = nlohmann::json::parse(std::ifstream(json))["results"];
  ASSERT_EQ(results.size(), 2u);
  std::vector<std::string> tasks;
  for (const auto& row : results) {
    tasks.push_back(row["task"]);
    ASSERT_TRUE(row["error"].is_null()) << row.dump();
    double tokens = row["task"] == "decode" ? 2 : 16;
    EXPECT_NEAR(row["tokens_per_s"].get<double>(), tokens / (row["median_ms"].get<double>() / 1000), 1e-6);
  }
  EXPECT_EQ(tasks, (std::vector<std::string>{"prefill", "decode"}));

  // --tasks picks one (llama-bench's -p 0 / -n 0), as a profiler run of decode steps alone needs.
  auto decode_only = run("bench --models " + testing_support::quoted(llama) + " --batch 1 --seq 8 --runs 10 --tasks decode" +
                         " --cache-dir " + testing_support::quoted(dir_ / "cache"));
  ASSERT_EQ(decode_only.exit_code, 0) << decode_only.err;
  EXPECT_NE(decode_only.out.find("1×8 decode"), std::string::npos) << decode_only.out;
  EXPECT_EQ(decode_only.out.find("prefill"), std::string::npos) << decode_only.out;
}

TEST_F(BenchCli, BadArgumentsFailWithOneLine) {
  for (const char* args : {"bench --batch 0", "bench --batch x", "bench --runs 3", "bench --dtype int4",
                           "bench --peers tensorflow", "bench --padding 1.5", "bench --grid huge",
                           "bench --tasks generate"}) {
    auto r = run(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_TRUE(r.one_error_line()) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

}  // namespace
}  // namespace tessera::bench
