// Every op in the conformance table on every available device and float dtype, against the
// float64 reference, with fresh random inputs each run (the seed is printed on failure).
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "testing/op_check.h"

namespace tessera::testing {
namespace {

struct OpParam {
  size_t case_index;
  Device device;
  Dtype dtype;
};

std::vector<OpParam> all_params() {
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  std::vector<OpParam> params;
  for (size_t i = 0; i < op_cases().size(); ++i)
    for (Device d : devices)
      for (Dtype t : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) params.push_back({i, d, t});
  return params;
}

void PrintTo(const OpParam& p, std::ostream* os) {
  *os << op_cases()[p.case_index].name << " on " << to_string(p.device) << " in " << name(p.dtype);
}

class OpTest : public ::testing::TestWithParam<OpParam> {};

TEST_P(OpTest, MatchesFloat64Reference) {
  const OpParam& p = GetParam();
  uint64_t seed = std::random_device{}();
  CheckResult r = run_op_case(op_cases()[p.case_index], p.device, p.dtype, seed);
  EXPECT_TRUE(r.passed) << r.message << " (seed " << seed << ")";
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpTest, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<OpParam>& info) {
                           return op_cases()[info.param.case_index].name + "_" +
                                  (info.param.device.type == DeviceType::cpu ? "cpu" : "cuda") + "_" +
                                  std::string(name(info.param.dtype));
                         });

// The table must keep covering every op the core promises.
TEST(OpTable, CoversEveryOp) {
  std::set<std::string> names;
  for (const OpCase& c : op_cases()) names.insert(c.name);
  for (const char* required :
       {"add", "subtract", "multiply", "divide", "maximum", "exp", "tanh", "erf", "gelu", "gelu_tanh",
        "silu", "relu", "softmax_last", "layer_norm", "rms_norm", "take_embedding", "take_along_axis",
        "concatenate_split", "where", "astype_int32", "sum_axis1", "mean_axes02", "max_last", "argmax",
        "rope_half", "sdpa_additive_mask", "sdpa_bool_mask_gqa", "sdpa_causal_kv_cache", "topk_values",
        "matmul_transposed_operands", "matmul_batch_broadcast", "quantize_packed_4bit_g32",
        "quantize_scales_biases_8bit_g64", "dequantize_4bit_g64", "quantized_matmul_4bit_g64",
        "quantized_matmul_untransposed_8bit", "linear_bias_gelu", "linear_transposed_weight",
        "quantized_matmul_int8_g64", "gather_matmul_top_k", "gather_quantized_matmul_4bit_g64",
        "quantized_matmul_panels_8bit_g64", "quantized_addmm_gelu_panels_8bit"})
    EXPECT_TRUE(names.count(required)) << required;
}

}  // namespace
}  // namespace tessera::testing
