// `tessera forward` and `tessera embed` as a user runs them: outputs that match transformers,
// and for every kind of bad input one clear error line, a non-zero exit and no output file.
#include <cmath>
#include <nlohmann/json.hpp>

#include "support/cli_runner.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using testing_support::CliTest;
using testing_support::CommandResult;
using testing_support::quoted;

const fs::path kModels = fs::path(TESSERA_FIXTURES) / "models";

class ForwardCommand : public CliTest {
 protected:
  // A copy of a fixture model directory that a test may break.
  fs::path copy_fixture(const std::string& name) {
    fs::path dst = dir_ / name;
    fs::copy(kModels / name, dst, fs::copy_options::recursive);
    return dst;
  }
  void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

  CommandResult forward(const fs::path& model, const fs::path& inputs, const std::string& extra = "") {
    return run("forward " + quoted(model) + " --inputs " + quoted(inputs) + " --output " +
               quoted(dir_ / "out.safetensors") + " " + extra);
  }

  void expect_clean_failure(const CommandResult& r, const std::string& fragment) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.one_error_line()) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "out.safetensors")) << "a failed run left an output file";
  }
};

TEST_F(ForwardCommand, WritesTheTransformersOutputs) {
  for (const char* name : {"bert_qa", "roberta_bin", "xlmr_f16", "bert_sharded"}) {
    CommandResult r = forward(kModels / name, kModels / name / "inputs.safetensors");
    ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
    TensorMap got = load_safetensors((dir_ / "out.safetensors").string());
    TensorMap want = load_safetensors((kModels / name / "expected.safetensors").string());
    ASSERT_EQ(got.size(), want.size()) << name;
    for (const auto& [field, w] : want) {
      ASSERT_TRUE(got.count(field)) << name << " " << field;
      EXPECT_EQ(got.at(field).dtype(), Dtype::float32);
      std::vector<float> g = got.at(field).to_vector<float>(), e = w.to_vector<float>();
      ASSERT_EQ(g.size(), e.size());
      double diff = 0, norm = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        diff += (g[i] - e[i]) * (g[i] - e[i]);
        norm += e[i] * e[i];
      }
      EXPECT_LE(std::sqrt(diff / norm), 1e-5) << name << " " << field;
    }
    fs::remove(dir_ / "out.safetensors");
  }
}

TEST_F(ForwardCommand, AcceptsInt32IdsAndBfloat16Compute) {
  TensorMap in = load_safetensors((kModels / "bert_tokcls" / "inputs.safetensors").string());
  for (auto& [k, v] : in) v = astype(v, Dtype::int32);
  save_safetensors((dir_ / "in32.safetensors").string(), in);
  CommandResult r = forward(kModels / "bert_tokcls", dir_ / "in32.safetensors", "--dtype bfloat16");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(ForwardCommand, RefusesUnknownArchitecture) {
  fs::path m = copy_fixture("bert_model");
  std::string config = testing_support::read_file(m / "config.json");
  config.replace(config.find("\"BertModel\""), 11, "\"GPT7Model\"");
  write(m / "config.json", config);
  expect_clean_failure(forward(m, m / "inputs.safetensors"), "unknown architecture \"GPT7Model\"");
}

TEST_F(ForwardCommand, RefusesMalformedConfig) {
  fs::path m = copy_fixture("bert_model");
  write(m / "config.json", "{\"architectures\": [\"BertModel\"], \"hidden_size\": ");
  expect_clean_failure(forward(m, m / "inputs.safetensors"), "not valid JSON");
}

TEST_F(ForwardCommand, RefusesConfigThatContradictsTheWeights) {
  fs::path m = copy_fixture("bert_model");
  std::string config = testing_support::read_file(m / "config.json");
  size_t at = config.find("\"intermediate_size\": ");
  config.insert(at + 21, "1");  // e.g. 37 -> 137
  write(m / "config.json", config);
  expect_clean_failure(forward(m, m / "inputs.safetensors"), "has shape");
}

TEST_F(ForwardCommand, RefusesMissingCheckpoint) {
  fs::path m = copy_fixture("bert_model");
  fs::remove(m / "model.safetensors");
  expect_clean_failure(forward(m, m / "inputs.safetensors"), "model.safetensors");
}

TEST_F(ForwardCommand, RefusesTruncatedCheckpoint) {
  fs::path m = copy_fixture("bert_model");
  std::string bytes = testing_support::read_file(m / "model.safetensors");
  write(m / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_clean_failure(forward(m, m / "inputs.safetensors"), "model.safetensors");
}

TEST_F(ForwardCommand, RefusesIdsOutsideTheVocabulary) {
  save_safetensors((dir_ / "in.safetensors").string(), {{"input_ids", Array(std::vector<int64_t>{1, 5, 100000}, {1, 3})}});
  expect_clean_failure(forward(kModels / "bert_model", dir_ / "in.safetensors"), "outside the vocabulary");
}

TEST_F(ForwardCommand, RefusesTooLongSequences) {
  std::vector<int64_t> ids(200, 5);
  save_safetensors((dir_ / "in.safetensors").string(), {{"input_ids", Array(ids, {1, 200})}});
  expect_clean_failure(forward(kModels / "bert_model", dir_ / "in.safetensors"), "longer than the model's");
}

TEST_F(ForwardCommand, RefusesFloatIds) {
  save_safetensors((dir_ / "in.safetensors").string(), {{"input_ids", Array(std::vector<float>{1, 2}, {1, 2})}});
  expect_clean_failure(forward(kModels / "bert_model", dir_ / "in.safetensors"), "int64 or int32");
}

TEST_F(ForwardCommand, RefusesWrongRankAndMissingIds) {
  save_safetensors((dir_ / "in.safetensors").string(), {{"input_ids", Array(std::vector<int64_t>{1, 2}, {2})}});
  expect_clean_failure(forward(kModels / "bert_model", dir_ / "in.safetensors"), "[batch, sequence]");
  save_safetensors((dir_ / "in.safetensors").string(), {{"ids", Array(std::vector<int64_t>{1, 2}, {1, 2})}});
  expect_clean_failure(forward(kModels / "bert_model", dir_ / "in.safetensors"), "no tensor named input_ids");
}

TEST_F(ForwardCommand, RefusesBadOptions) {
  fs::path m = kModels / "bert_model";
  expect_clean_failure(forward(m, m / "inputs.safetensors", "--dtype int8"), "--dtype");
  expect_clean_failure(forward(m, m / "inputs.safetensors", "--device tpu"), "unknown device");
  expect_clean_failure(run("forward " + quoted(m)), "--inputs");
}

TEST_F(ForwardCommand, RefusesHostilePickle) {
  fs::path hostile = fs::path(TESSERA_FIXTURES) / "io";
  for (const auto& entry : fs::directory_iterator(hostile)) {
    std::string n = entry.path().filename();
    if (n.find("hostile") == std::string::npos || entry.path().extension() != ".bin") continue;
    fs::path m = dir_ / ("model_" + entry.path().stem().string());
    fs::create_directories(m);
    fs::copy(kModels / "bert_model" / "config.json", m / "config.json");
    fs::copy(entry.path(), m / "pytorch_model.bin");
    expect_clean_failure(forward(m, kModels / "bert_model" / "inputs.safetensors"), "refusing");
  }
}

TEST_F(ForwardCommand, UnknownCommandAndNoArguments) {
  CommandResult r = run("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.one_error_line()) << r.err;
}

TEST_F(ForwardCommand, VersionSaysWhetherCudaIsUsable) {
  CommandResult r = run("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("tessera ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("(cuda: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace tessera
