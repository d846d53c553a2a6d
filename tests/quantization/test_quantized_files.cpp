// Quantized checkpoints as files: `tessera convert` output runs with every command and matches
// quantizing at load; corrupt quantized files fail with one clear line naming the tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/cli_runner.h"
#include "tessera/model.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

using testing_support::CommandResult;
using testing_support::quoted;

// A random-init BERT whose Linear input sizes (64, 96) divide into groups of 32.
void write_tiny_bert(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  nlohmann::json config = {{"architectures", {"BertModel"}}, {"hidden_size", 64}, {"intermediate_size", 96},
                           {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"vocab_size", 50},
                           {"max_position_embeddings", 32}, {"type_vocab_size", 2}, {"hidden_act", "gelu"}};
  std::ofstream(dir / "config.json") << config.dump();
  write_random_checkpoint(dir.string(), 11);
}

class QuantizedFiles : public testing_support::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    write_tiny_bert(dir_ / "float");
    // Files beside the checkpoint that convert must carry over (tokenizer, pooling config).
    std::filesystem::create_directories(dir_ / "float" / "1_Pooling");
    std::ofstream(dir_ / "float" / "1_Pooling" / "config.json") << R"({"pooling_mode_mean_tokens": true})";
    std::ofstream(dir_ / "float" / "vocab.txt") << "[PAD]\n";
    inputs_ = dir_ / "inputs.safetensors";
    save_safetensors(inputs_.string(), {{"input_ids", Array(std::vector<int64_t>{2, 7, 9, 30, 3, 4}, {1, 6})}});
  }
  std::filesystem::path convert(int bits, int group_size) {
    std::filesystem::path out = dir_ / ("q" + std::to_string(bits) + "_" + std::to_string(group_size));
    CommandResult r = run("convert " + quoted(dir_ / "float") + " --output " + quoted(out) + " --quantize " +
                          std::to_string(bits) + " --group-size " + std::to_string(group_size));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }
  std::vector<float> forward(const std::filesystem::path& model, const std::string& extra = "") {
    std::filesystem::path out = dir_ / "out.safetensors";
    CommandResult r = run("forward " + quoted(model) + " --inputs " + quoted(inputs_) + " --output " + quoted(out) + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return load_safetensors(out.string()).at("last_hidden_state").to_vector<float>();
  }
  // Rewrites the converted checkpoint with `edit` applied to its tensors, then expects `forward`
  // to fail with one line that contains `message`.
  void expect_load_error(const std::filesystem::path& model, const std::function<void(TensorMap&)>& edit,
                         const std::string& message) {
    TensorMap tensors = load_safetensors((model / "model.safetensors").string());
    TensorMap copy;
    for (auto& [k, v] : tensors) copy[k] = contiguous(v);
    eval([&] { std::vector<Array> all; for (auto& [k, v] : copy) all.push_back(v); return all; }());
    tensors.clear();
    edit(copy);
    save_safetensors((model / "model.safetensors").string(), copy);
    CommandResult r = run("forward " + quoted(model) + " --inputs " + quoted(inputs_) + " --output " +
                          quoted(dir_ / "bad.safetensors"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.one_error_line()) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "bad.safetensors"));
  }
  std::filesystem::path inputs_;
};

TEST_F(QuantizedFiles, ConvertedDirectoryMatchesQuantizingAtLoad) {
  for (auto [bits, group_size] : {std::pair{4, 32}, std::pair{8, 64}, std::pair{2, 32}}) {
    std::filesystem::path q = convert(bits, group_size);
    nlohmann::json config = nlohmann::json::parse(testing_support::read_file(q / "config.json"));
    EXPECT_EQ(config["quantization"]["bits"], bits);
    EXPECT_EQ(config["quantization"]["group_size"], group_size);
    EXPECT_EQ(testing_support::read_file(q / "1_Pooling" / "config.json"),
              testing_support::read_file(dir_ / "float" / "1_Pooling" / "config.json"));
    EXPECT_TRUE(std::filesystem::exists(q / "vocab.txt"));
    TensorMap t = load_safetensors((q / "model.safetensors").string());
    EXPECT_EQ(t.at("encoder.layer.0.intermediate.dense.weight").dtype(), Dtype::uint32);
    // output.dense has 96 inputs: packed with groups of 32, left in float with groups of 64.
    const Array& output_dense = t.at("encoder.layer.0.output.dense.weight");
    EXPECT_EQ(output_dense.shape(), (group_size == 32 ? Shape{64, 96 * bits / 32} : Shape{64, 96}));
    EXPECT_EQ(output_dense.dtype(), group_size == 32 ? Dtype::uint32 : Dtype::float32);
    EXPECT_EQ(t.at("encoder.layer.1.attention.self.query.scales").shape(), (Shape{64, 64 / group_size}));
    EXPECT_EQ(t.at("embeddings.word_embeddings.weight").dtype(), Dtype::float32);  // not a Linear
    std::string at_load = " --quantize " + std::to_string(bits) + " --group-size " + std::to_string(group_size);
    EXPECT_EQ(forward(q), forward(dir_ / "float", at_load)) << bits << " bits";
  }
}

TEST_F(QuantizedFiles, QuantizedOutputsStayCloseToFloat) {
  std::vector<float> reference = forward(dir_ / "float");
  for (auto [bits, bound] : {std::pair{8, 0.01}, std::pair{4, 0.1}}) {
    std::vector<float> got = forward(dir_ / "float", " --quantize " + std::to_string(bits) + " --group-size 32");
    double diff = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      diff += (got[i] - reference[i]) * double(got[i] - reference[i]);
      norm += reference[i] * double(reference[i]);
    }
    EXPECT_LT(std::sqrt(diff / norm), bound) << bits << " bits";
  }
}

TEST_F(QuantizedFiles, WrongPackedShapeNamesTheTensor) {
  std::filesystem::path q = convert(4, 32);
  expect_load_error(q, [](TensorMap& t) {
    t["encoder.layer.1.output.dense.weight"] = zeros({64, 10}, Dtype::uint32);
  }, "encoder.layer.1.output.dense.weight has shape (64,10)");
}

TEST_F(QuantizedFiles, MissingScalesOrBiasesNameTheTensor) {
  std::filesystem::path q = convert(4, 32);
  expect_load_error(q, [](TensorMap& t) { t.erase("encoder.layer.0.attention.self.key.scales"); },
                    "has no encoder.layer.0.attention.self.key.scales");
  q = convert(8, 32);
  expect_load_error(q, [](TensorMap& t) { t.erase("encoder.layer.1.intermediate.dense.biases"); },
                    "has no encoder.layer.1.intermediate.dense.biases");
}

TEST_F(QuantizedFiles, WrongScalesShapeNamesTheTensor) {
  std::filesystem::path q = convert(4, 32);
  expect_load_error(q, [](TensorMap& t) { t["pooler.dense.scales"] = zeros({64, 3}); },
                    "pooler.dense.scales is float32 (64,3), expected floating-point (64,2)");
}

TEST_F(QuantizedFiles, UnsupportedFormatInConfigFailsClearly) {
  for (auto [key, value, message] : {std::tuple{"bits", 3, "3-bit quantization is not supported"},
                                     std::tuple{"group_size", 48, "group size 48 is not supported"}}) {
    std::filesystem::path q = convert(4, 32);
    nlohmann::json config = nlohmann::json::parse(testing_support::read_file(q / "config.json"));
    config["quantization"][key] = value;
    std::ofstream(q / "config.json") << config.dump();
    CommandResult r = run("forward " + quoted(q) + " --inputs " + quoted(inputs_) + " --output " +
                          quoted(dir_ / "bad.safetensors"));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.one_error_line()) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
}

TEST_F(QuantizedFiles, UnsupportedQuantizeOptionFailsClearly) {
  CommandResult r = run("forward " + quoted(dir_ / "float") + " --inputs " + quoted(inputs_) + " --output " +
                        quoted(dir_ / "bad.safetensors") + " --quantize 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(r.one_error_line()) << r.err;
  EXPECT_NE(r.err.find("5-bit quantization is not supported"), std::string::npos) << r.err;
  r = run("convert " + quoted(dir_ / "float") + " --output " + quoted(dir_ / "q") + " --quantize 4 --group-size 100");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("group size 100 is not supported"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera
