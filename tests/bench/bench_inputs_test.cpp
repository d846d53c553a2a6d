// The inputs every engine reads: deterministic random ids, padding, real text when there is a
// tokenizer, and the plan the peers read.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/bench/bench_inputs.h"
#include "runtime/bench/case_plan.h"
#include "tessera/safetensors.h"

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;

class BenchInputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_bench_inputs_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "model");
    std::ofstream(dir_ / "model" / "config.json")
        << R"({"architectures": ["RobertaModel"], "vocab_size": 100, "pad_token_id": 1})";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(BenchInputsTest, RandomIdsAreDeterministicAndAvoidSpecials) {
  InputGenerator a((dir_ / "model").string(), 7), b((dir_ / "model").string(), 7), c((dir_ / "model").string(), 8);
  EXPECT_EQ(a.source(), "random ids");
  BenchInputs x = a.make(4, 16, 0.0);
  EXPECT_EQ(x.input_ids, b.make(4, 16, 0.0).input_ids);
  EXPECT_NE(x.input_ids, c.make(4, 16, 0.0).input_ids);
  ASSERT_EQ(x.input_ids.size(), 64u);
  for (int64_t id : x.input_ids) {
    EXPECT_GE(id, 5);
    EXPECT_LT(id, 100);
  }
  EXPECT_EQ(x.attention_mask, std::vector<int64_t>(64, 1));
}

TEST_F(BenchInputsTest, PaddingMasksTheTailOfEveryRow) {
  InputGenerator g((dir_ / "model").string(), 0);
  BenchInputs x = g.make(2, 10, 0.5);
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t i = 0; i < 10; ++i) {
      EXPECT_EQ(x.attention_mask[size_t(row * 10 + i)], i < 5 ? 1 : 0);
      if (i >= 5) {
        EXPECT_EQ(x.input_ids[size_t(row * 10 + i)], 1);  // the pad id
      }
    }
  EXPECT_EQ(g.make(1, 4, 0.99).attention_mask, (std::vector<int64_t>{1, 0, 0, 0}));  // one real token stays
}

TEST_F(BenchInputsTest, RealTextThroughTheModelsTokenizer) {
  fs::path minilm = fs::path(TESSERA_MODELS) / "all-MiniLM-L6-v2";
  if (!fs::exists(minilm / "tokenizer.json")) GTEST_SKIP() << "scripts/fetch-models.sh has not run";
  InputGenerator g(minilm.string(), 0);
  EXPECT_EQ(g.source(), "text");
  BenchInputs x = g.make(2, 32, 0.0);
  EXPECT_EQ(x.input_ids[0], 101);   // [CLS]
  EXPECT_EQ(x.input_ids[31], 102);  // [SEP]
  EXPECT_NE(x.input_ids[1], x.input_ids[33]);  // rows are different windows of the text
}

TEST_F(BenchInputsTest, PlanAndInputsFilesForThePeers) {
  BenchSettings settings;
  settings.threads = 2;
  std::map<std::string, BenchModel> models = {{"m", {"m", (dir_ / "model").string()}}};
  std::vector<PreparedCase> cases =
      prepare_cases({{"m", "cpu", "float32", 2, 8}, {"m", "cpu", "bfloat16", 2, 8}}, models, settings, dir_);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].inputs_path, cases[1].inputs_path);  // one file per shape
  TensorMap saved = load_safetensors(cases[0].inputs_path);
  EXPECT_EQ(saved.at("input_ids").shape(), (Shape{2, 8}));
  EXPECT_EQ(saved.at("input_ids").dtype(), Dtype::int64);
  EXPECT_EQ(saved.at("attention_mask").shape(), (Shape{2, 8}));

  nlohmann::json plan = peer_plan(cases, settings, dir_);
  EXPECT_EQ(plan["runs"], 10);
  EXPECT_EQ(plan["threads"], 2);
  EXPECT_EQ(plan["peer_max_run_s"], 10.0);
  ASSERT_EQ(plan["cases"].size(), 2u);
  for (const char* key : {"model", "model_dir", "device", "dtype", "batch", "seq", "inputs"})
    EXPECT_TRUE(plan["cases"][0].contains(key)) << key;
  EXPECT_EQ(plan["cases"][1]["dtype"], "bfloat16");
}

}  // namespace
}  // namespace tessera::bench
