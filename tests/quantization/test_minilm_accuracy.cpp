// The real all-MiniLM-L6-v2 quantized at load against sentence-transformers' float32 embeddings
// of tests/fixtures/minilm/sentences.txt. 8 bits: cosine >= 0.999 for every sentence (the goal).
// 4 bits: MLX's round-to-nearest format itself loses more on this small model (the same weights
// quantized by mx.quantize and run in PyTorch give min 0.874, mean 0.957 at group 64; tessera's
// weights are bit-identical to those), so the 0.99 goal is out of reach of the format and these
// bounds guard against regressions instead. Calibrated 4-bit (convert --calibrate, GPTQ-style,
// calibrated on tests/fixtures/calibration, never on these sentences) narrows the gap. 8 bits with
// int8 compute (activations quantized per token and group, quantized_matmul_int8; value/output
// projections exact): 0.999 at group 64, the goal; group 128 (coarser activation groups) is held
// at its measured level. 8 bits with bfloat16 activations (AMX: weight panels dequantized to
// bfloat16, backend/cpu/quantized_onednn.cpp; float32 scales and biases): the goal too, measured
// min 0.99926 / mean 0.99978. Min and mean: docs/benchmarks.md "## Quantization" and "## CPU speed".
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "runtime/embedder.h"
#include "support/cli_runner.h"
#include "support/minilm_fixture.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

const fs::path& kModel = testing_support::kMiniLMModel;

struct Case {
  int bits, group_size;
  double min_cosine, min_mean;
  bool int8_compute = false;
  Dtype dtype = Dtype::float32;
};

class QuantizedMiniLM : public ::testing::TestWithParam<Case> {};

// Min and mean cosine of the 35 sentences' embeddings (model loaded with `options`) to the
// committed float32 ones; every sentence is checked against `min_cosine`.
std::pair<double, double> cosine_to_float32(const fs::path& model, const LoadOptions& options, double min_cosine) {
  std::vector<std::vector<float>> got = Embedder(model.string(), options).embed_ids(testing_support::minilm_reference_ids());
  std::vector<std::vector<float>> want = testing_support::minilm_reference_embeddings();
  const int64_t n = int64_t(want.size());
  EXPECT_EQ(int64_t(got.size()), n);
  double lowest = 1, total = 0;
  for (int64_t i = 0; i < n && i < int64_t(got.size()); ++i) {
    double cosine = testing_support::cosine(got[size_t(i)], want[size_t(i)]);
    EXPECT_GE(cosine, min_cosine) << "sentence " << i;
    lowest = std::min(lowest, cosine);
    total += cosine;
  }
  return {lowest, total / double(n)};
}

TEST_P(QuantizedMiniLM, EmbeddingsStayCloseToFloat32) {
  ASSERT_TRUE(fs::exists(kModel / "model.safetensors"))
      << kModel << " is missing: run scripts/fetch-models.sh (the README's test command does)";
  const Case c = GetParam();
  LoadOptions options;
  options.quantize = QuantizationSpec{c.group_size, c.bits};
  options.int8_compute = c.int8_compute;
  options.dtype = c.dtype;
  auto [lowest, mean] = cosine_to_float32(kModel, options, c.min_cosine);
  EXPECT_GE(mean, c.min_mean);
  std::printf("all-MiniLM-L6-v2 %d-bit group %d%s%s: cosine to float32 over 35 sentences: min %.6f mean %.6f\n",
              c.bits, c.group_size, c.int8_compute ? " int8 compute" : "",
              c.dtype == Dtype::bfloat16 ? " bfloat16 compute" : "", lowest, mean);
}

// 4-bit group 64 calibrated on the committed calibration texts (none of the 35 sentences; the
// augmented set adds short and long texts derived from them), as a user runs it (`tessera convert
// --calibrate`), then loaded from the written directory: well above round-to-nearest (min 0.874,
// mean 0.957), measured min 0.977 / mean 0.990. The 0.99 goal for the minimum needs the
// end-to-end tuning of scripts/quantization/e2e_tune.py on top (docs/benchmarks.md), so this
// bounds regressions of the C++ step.
class CalibratedMiniLM : public testing_support::CliTest {};

TEST_F(CalibratedMiniLM, FourBitGroup64EmbeddingsStayCloseToFloat32) {
  ASSERT_TRUE(fs::exists(kModel / "model.safetensors"))
      << kModel << " is missing: run scripts/fetch-models.sh (the README's test command does)";
  const fs::path out = dir_ / "q4_calibrated";
  const fs::path texts = fs::path(TESSERA_FIXTURES) / "calibration" / "calibration_augmented.txt";
  testing_support::CommandResult r = run("convert '" + kModel.string() + "' --output '" + out.string() +
                                         "' --quantize 4 --group-size 64 --calibrate '" + texts.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto [lowest, mean] = cosine_to_float32(out, {}, 0.975);
  EXPECT_GE(mean, 0.989);
  std::printf("all-MiniLM-L6-v2 4-bit group 64 calibrated: cosine to float32 over 35 sentences: min %.6f mean %.6f\n",
              lowest, mean);
}

TEST_F(CalibratedMiniLM, CalibrationErrorsAreOneLine) {
  const std::string model = "'" + kModel.string() + "' --output '" + (dir_ / "out").string() + "'";
  const fs::path texts = fs::path(TESSERA_FIXTURES) / "calibration" / "calibration_texts.txt";
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {model + " --calibrate '" + texts.string() + "'", "--calibrate needs --quantize"},
           {model + " --quantize 3 --calibrate '" + texts.string() + "'", "3-bit quantization is not supported"},
           {model + " --quantize 4 --calibrate '" + (dir_ / "absent.txt").string() + "'", "no such calibration file"},
           {model + " --quantize 4 --calibrate /dev/null", "no such calibration file"}}) {
    testing_support::CommandResult r = run("convert " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_TRUE(r.one_error_line()) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "out" / "model.safetensors"));
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, QuantizedMiniLM,
                         ::testing::Values(Case{8, 64, 0.999, 0.9995}, Case{8, 32, 0.999, 0.9995},
                                           Case{4, 64, 0.85, 0.95}, Case{4, 32, 0.88, 0.96},
                                           Case{4, 128, 0.80, 0.93}, Case{8, 64, 0.999, 0.9995, true},
                                           Case{8, 128, 0.9985, 0.9995, true},
                                           Case{8, 64, 0.999, 0.9996, false, Dtype::bfloat16}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::to_string(info.param.bits) + "bit_group" + std::to_string(info.param.group_size) +
                                  (info.param.int8_compute ? "_int8_compute" : "") +
                                  (info.param.dtype == Dtype::bfloat16 ? "_bfloat16" : "");
                         });

}  // namespace
}  // namespace tessera
