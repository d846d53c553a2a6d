// tessera's quantize against MLX's own outputs on the same weights (tests/fixtures/quantization,
// written by tests/interop/mlx_quantize_check.py --write-fixtures with pip mlx): packed words,
// scales and biases bit for bit, for every supported bits x group size x dtype, including the
// edge-case groups (constant, all zero, one-signed) in the first group of each row.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

const std::filesystem::path kFixture =
    std::filesystem::path(TESSERA_FIXTURES) / "quantization" / "mlx_quantize.safetensors";

bool same_bytes(const Array& a, const Array& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Array ca = contiguous(a), cb = contiguous(b);
  eval({ca, cb});
  auto bytes = [](const Array& x) {
    return static_cast<const uint8_t*>(x.buffer()->host()) + x.offset() * int64_t(itemsize(x.dtype()));
  };
  return std::memcmp(bytes(ca), bytes(cb), a.nbytes()) == 0;
}

TEST(MlxBitIdentity, QuantizeMatchesMlxForEveryFormat) {
  TensorMap mlx = load_safetensors(kFixture.string());
  // Every bits x group size in float32; 4 and 8 bits with group 64 in float16 and bfloat16.
  std::vector<std::tuple<std::string, int, int>> formats;
  for (int bits : {2, 4, 8})
    for (int group_size : {32, 64, 128}) formats.emplace_back("float32", bits, group_size);
  for (const char* dtype : {"float16", "bfloat16"})
    for (int bits : {4, 8}) formats.emplace_back(dtype, bits, 64);
  for (const auto& [dtype, bits, group_size] : formats) {
    std::string tag = dtype + "_b" + std::to_string(bits) + "_g" + std::to_string(group_size);
    QuantizedArrays q = quantize(mlx.at("w_" + tag), group_size, bits);
    EXPECT_TRUE(same_bytes(q.weight, mlx.at("q_" + tag))) << tag << ": packed weights";
    EXPECT_TRUE(same_bytes(q.scales, mlx.at("s_" + tag))) << tag << ": scales";
    EXPECT_TRUE(same_bytes(q.biases, mlx.at("b_" + tag))) << tag << ": biases";
  }
}

TEST(MlxBitIdentity, QuantizedMatmulMatchesMlx) {
  TensorMap mlx = load_safetensors(kFixture.string());
  Array y = quantized_matmul(mlx.at("x"), mlx.at("q_float32_b4_g64"), mlx.at("s_float32_b4_g64"),
                             mlx.at("b_float32_b4_g64"), true, 64, 4);
  std::vector<float> got = y.to_vector<float>(), want = mlx.at("y_float32_b4_g64").to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff += (got[i] - want[i]) * double(got[i] - want[i]);
    norm += want[i] * double(want[i]);
  }
  EXPECT_LE(std::sqrt(diff / norm), 1e-6);  // summation order differs, nothing else
}

}  // namespace
}  // namespace tessera
