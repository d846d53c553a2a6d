// The bfloat16-activation quantized Linear on AMX (backend/cpu/quantized_onednn.cpp) called
// directly, so a silent fallback to the tile GEMM cannot hide it: each weight panel dequantized
// into oneDNN's BA16a64b2a layout by a 16 x 16 transpose, one single-threaded matmul primitive
// per panel, panel results copied into their columns, bias and GELU fused. Compared with float64
// arithmetic on the dequantized weights at the op table's bfloat16 tolerance (1e-2 norm-wise);
// a wrong layout, panel offset or thread split gives errors of order 1.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cpuid.h>
#include <random>
#include <vector>

#include "backend/cpu/quantized_onednn.h"
#include "tessera/half.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

// Where the path must run: AVX512-BF16 and AMX-BF16 (oneDNN's brgemm kernel).
bool amx_bf16() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ((edx >> 22) & 1) && __builtin_cpu_supports("avx512bf16");
}

struct Shape3 {
  int64_t m, n, k;
  int group_size, bits;
};

class QuantizedPanels : public ::testing::TestWithParam<Shape3> {};

TEST_P(QuantizedPanels, MatchFloat64OnTheDequantizedWeights) {
  const Shape3 s = GetParam();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(size_t(s.m * s.k)), w(size_t(s.n * s.k)), bias(size_t(s.n));
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng) * 0.05f;
  for (float& v : bias) v = normal(rng);
  std::vector<bfloat16> xb(x.size());
  for (size_t i = 0; i < x.size(); ++i) xb[i] = to_bfloat16(x[i]);

  QuantizedArrays q = quantize(Array(w, {s.n, s.k}), s.group_size, s.bits);
  eval({q.weight, q.scales, q.biases});
  const std::vector<float> w_hat =
      dequantize(q.weight, q.scales, q.biases, s.group_size, s.bits).to_vector<float>();
  const std::vector<uint32_t> words = q.weight.to_vector<uint32_t>();
  const std::vector<float> scales = q.scales.to_vector<float>(), biases = q.biases.to_vector<float>();
  const cpu::PackedMatrix packed{words.data(), scales.data(), biases.data(), s.k, s.group_size, s.bits};

  for (Activation activation : {Activation::none, Activation::gelu}) {
    // Reference: float64 over the bfloat16 x and the float32 dequantized weights.
    std::vector<double> want(size_t(s.m * s.n));
    for (int64_t r = 0; r < s.m; ++r)
      for (int64_t c = 0; c < s.n; ++c) {
        double acc = bias[size_t(c)];
        for (int64_t i = 0; i < s.k; ++i)
          acc += double(to_float(xb[size_t(r * s.k + i)])) * w_hat[size_t(c * s.k + i)];
        want[size_t(r * s.n + c)] = activation == Activation::gelu ? 0.5 * acc * (1 + std::erf(acc / std::sqrt(2.0))) : acc;
      }
    // One thread: one panel per call or the whole N written in place; two: the copy path.
    for (int threads : {1, 2}) {
      const int previous = omp_get_max_threads();
      omp_set_num_threads(threads);
      std::vector<bfloat16> got(size_t(s.m * s.n), to_bfloat16(-7.0f));
      const bool ran = cpu::quantized_linear_bf16(xb.data(), s.m, packed, s.n, bias.data(), activation, got.data());
      omp_set_num_threads(previous);
      if (!ran) {
        EXPECT_FALSE(amx_bf16()) << "the AMX path refused a supported shape";
        GTEST_SKIP() << "no AMX-BF16 / AVX512-BF16 here: the tile GEMM path runs instead";
      }
      double err = 0, norm = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        const double d = double(to_float(got[i])) - want[i];
        err += d * d;
        norm += want[i] * want[i];
      }
      EXPECT_LE(std::sqrt(err / norm), 1e-2)
          << s.m << "x" << s.n << "x" << s.k << " g" << s.group_size << " " << s.bits << "-bit, " << threads
          << " threads, activation " << int(activation);
    }
  }
}

// bert-base's K (768, 3072), groups 64 and 128, panel widths that differ within a call
// (192 = 128 + 64 with two threads), a row count that is no multiple of the kernel's blocks, and
// 4 bits (the same panel writer through another unpacking).
INSTANTIATE_TEST_SUITE_P(Shapes, QuantizedPanels,
                         ::testing::Values(Shape3{128, 192, 768, 64, 8}, Shape3{37, 128, 3072, 128, 8},
                                           Shape3{130, 768, 768, 64, 8}, Shape3{24, 256, 3072, 64, 8},
                                           Shape3{20, 128, 256, 64, 4}),
                         [](const ::testing::TestParamInfo<Shape3>& info) {
                           const Shape3& s = info.param;
                           return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + "_g" +
                                  std::to_string(s.group_size) + "_" + std::to_string(s.bits) + "bit";
                         });

}  // namespace
}  // namespace tessera
