// tessera::cpu::gemm_f32 / gemm_bf16 against a float64 reference: every transpose combination,
// odd sizes, padded leading dimensions, alpha/beta, and calls from inside an OpenMP region.
#include <dirent.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/gemm.h"

namespace tessera::cpu {
namespace {

// Row-major storage of op(X) with a leading dimension larger than needed, so a kernel that
// assumes ld == columns reads the wrong elements.
template <typename T>
struct Matrix {
  int64_t rows, cols, ld;  // as stored (before op)
  std::vector<T> data;
  Matrix(int64_t r, int64_t c, int64_t padding) : rows(r), cols(c), ld(c + padding), data(r * ld) {}
};

std::mt19937_64 fresh_rng() {
  std::random_device entropy;
  return std::mt19937_64((uint64_t(entropy()) << 32) | entropy());
}

// Values away from zero: a kernel that drops or misplaces a term cannot hide behind zeros.
float random_value(std::mt19937_64& rng) {
  std::uniform_real_distribution<float> magnitude(0.1f, 1.0f);
  return std::bernoulli_distribution(0.5)(rng) ? -magnitude(rng) : magnitude(rng);
}

struct Case {
  bool trans_a, trans_b;
  int64_t m, n, k;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true})
      for (int64_t m : {1, 7, 33, 129})
        for (int64_t n : {1, 7, 33, 129})
          for (int64_t k : {1, 7, 33, 129}) cases.push_back({trans_a, trans_b, m, n, k});
  return cases;
}

// Runs one case through gemm (f32 or bf16 inputs) and returns ||C - ref|| / ||ref||, where ref is
// computed in float64 from `reference_inputs`: the very values the kernel read, or the float32
// values they were rounded from. The padding of C past n columns must come back untouched.
template <typename T, typename Gemm, typename ToDouble>
double relative_error(const Case& c, float alpha, float beta, Gemm gemm, ToDouble reference_a,
                      ToDouble reference_b, std::mt19937_64& rng) {
  Matrix<float> a_f32(c.trans_a ? c.k : c.m, c.trans_a ? c.m : c.k, 3);
  Matrix<float> b_f32(c.trans_b ? c.n : c.k, c.trans_b ? c.k : c.n, 5);
  Matrix<float> out(c.m, c.n, 2);
  for (float& v : a_f32.data) v = random_value(rng);
  for (float& v : b_f32.data) v = random_value(rng);
  for (float& v : out.data) v = random_value(rng);
  // beta == 0 must not read C (BLAS semantics): NaN there would leak into the result.
  if (beta == 0.0f)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j)
        out.data[i * out.ld + j] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> out_before = out.data;

  Matrix<T> a(a_f32.rows, a_f32.cols, 3), b(b_f32.rows, b_f32.cols, 5);
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = gemm.convert(a_f32.data[i]);
  for (size_t i = 0; i < b.data.size(); ++i) b.data[i] = gemm.convert(b_f32.data[i]);
  gemm(c.trans_a, c.trans_b, c.m, c.n, c.k, alpha, a.data.data(), a.ld, b.data.data(), b.ld, beta,
       out.data.data(), out.ld);

  double diff2 = 0, ref2 = 0;
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double dot = 0, magnitude = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const int64_t a_at = c.trans_a ? p * a.ld + i : i * a.ld + p;
        const int64_t b_at = c.trans_b ? j * b.ld + p : p * b.ld + j;
        const double term = reference_a(a.data[a_at], a_f32.data[a_at]) *
                            reference_b(b.data[b_at], b_f32.data[b_at]);
        dot += term;
        magnitude += std::abs(term);
      }
      const int64_t at = i * out.ld + j;
      const double c_term = beta == 0.0f ? 0.0 : double(beta) * out_before[at];
      const double ref = alpha * dot + c_term;
      // Rounding error scales with the terms summed, not with their (possibly cancelling) sum:
      // a 1x1 output of a 129-long dot product can be far smaller than its terms.
      const double scale = std::abs(alpha) * magnitude + std::abs(c_term);
      diff2 += (out.data[at] - ref) * (out.data[at] - ref);
      ref2 += scale * scale;
    }
    for (int64_t j = c.n; j < out.ld; ++j)
      EXPECT_EQ(out.data[i * out.ld + j], out_before[i * out.ld + j]) << "padding of C written";
  }
  return std::sqrt(diff2 / ref2);
}

struct F32Gemm {
  static float convert(float v) { return v; }
  void operator()(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) const {
    gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

struct Bf16Gemm {
  static bfloat16 convert(float v) { return to_bfloat16(v); }
  void operator()(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const bfloat16* a,
                  int64_t lda, const bfloat16* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) const {
    gemm_bf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
};

std::string describe(const Case& c, float alpha, float beta) {
  return "trans_a=" + std::to_string(c.trans_a) + " trans_b=" + std::to_string(c.trans_b) +
         " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
         " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta);
}

const std::pair<float, float> kScalings[] = {{1.0f, 0.0f}, {0.75f, -0.5f}, {-1.25f, 1.0f}};

TEST(Gemm, Float32MatchesFloat64Reference) {
  std::mt19937_64 rng = fresh_rng();
  auto exact = [](float v, float) { return double(v); };
  for (const Case& c : all_cases())
    for (auto [alpha, beta] : kScalings)
      EXPECT_LE(relative_error<float>(c, alpha, beta, F32Gemm{}, exact, exact, rng), 1e-5)
          << describe(c, alpha, beta);
}

TEST(Gemm, Bfloat16MatchesFloat64Reference) {
  std::mt19937_64 rng = fresh_rng();
  // Against the bf16 values the kernel read, only float32 accumulation error remains.
  auto as_read = [](bfloat16 v, float) { return double(to_float(v)); };
  for (const Case& c : all_cases())
    for (auto [alpha, beta] : kScalings)
      EXPECT_LE(relative_error<bfloat16>(c, alpha, beta, Bf16Gemm{}, as_read, as_read, rng), 1e-5)
          << describe(c, alpha, beta);
}

// Against the float32 values the bf16 inputs were rounded from, bf16's 8-bit mantissa shows: the
// model-level tolerance (1e-2) holds over a whole output, not for one cancelling dot product, so
// this uses the largest outputs only.
TEST(Gemm, Bfloat16StaysWithinBfloat16ToleranceOfFloat32Inputs) {
  std::mt19937_64 rng = fresh_rng();
  auto unrounded = [](bfloat16, float original) { return double(original); };
  for (const Case& c : all_cases()) {
    if (c.m * c.n < 129 * 33) continue;
    for (auto [alpha, beta] : kScalings)
      EXPECT_LE(relative_error<bfloat16>(c, alpha, beta, Bf16Gemm{}, unrounded, unrounded, rng),
                1e-2)
          << describe(c, alpha, beta);
  }
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  float c[4] = {1, 2, 3, 4};
  const float unused = 0;
  gemm_f32(false, false, 2, 2, 0, 1.0f, &unused, 1, &unused, 2, 0.5f, c, 2);
  EXPECT_FLOAT_EQ(c[0], 0.5f);
  EXPECT_FLOAT_EQ(c[3], 2.0f);
}

int64_t process_threads() {
  int64_t count = 0;
  if (DIR* tasks = opendir("/proc/self/task")) {
    while (const dirent* entry = readdir(tasks)) count += entry->d_name[0] != '.';
    closedir(tasks);
  }
  return count;
}

// tessera parallelises over heads/batches with OpenMP and calls gemm inside that region: the
// library must then run single-threaded on each caller (no nested team, no thread pool of its
// own), and stay correct when called concurrently.
TEST(Gemm, InsideOpenMpRegionStaysCorrectAndAddsNoThreads) {
  constexpr int64_t kSize = 96;
  std::mt19937_64 rng = fresh_rng();
  std::vector<float> a(kSize * kSize), b(kSize * kSize);
  for (float& v : a) v = random_value(rng);
  for (float& v : b) v = random_value(rng);
  std::vector<float> expected(kSize * kSize);
  gemm_f32(false, true, kSize, kSize, kSize, 1.0f, a.data(), kSize, b.data(), kSize, 0.0f,
           expected.data(), kSize);
  const int64_t threads_before = process_threads();

  constexpr int kCalls = 16;
  std::vector<std::vector<float>> results(kCalls, std::vector<float>(kSize * kSize));
  int64_t threads_during = 0;
#pragma omp parallel for schedule(static) reduction(max : threads_during)
  for (int call = 0; call < kCalls; ++call) {
    gemm_f32(false, true, kSize, kSize, kSize, 1.0f, a.data(), kSize, b.data(), kSize, 0.0f,
             results[call].data(), kSize);
    std::vector<bfloat16> a16(a.size()), b16(b.size());
    for (size_t i = 0; i < a.size(); ++i) a16[i] = to_bfloat16(a[i]), b16[i] = to_bfloat16(b[i]);
    std::vector<float> scratch(kSize * kSize);
    gemm_bf16(false, true, kSize, kSize, kSize, 1.0f, a16.data(), kSize, b16.data(), kSize, 0.0f,
              scratch.data(), kSize);
    threads_during = std::max(threads_during, process_threads());
  }
  for (const std::vector<float>& result : results)
    for (int64_t i = 0; i < kSize * kSize; ++i) ASSERT_NEAR(result[i], expected[i], 1e-3f);
  // The OpenMP team itself may have been created by the first parallel region above.
  EXPECT_LE(threads_during, std::max<int64_t>(threads_before, omp_get_max_threads()));
}

TEST(Gemm, ReportsItsBackend) {
  const std::string name = gemm_backend_name();
  EXPECT_TRUE(name == "openblas" || name == "onednn" || name == "blis") << name;
}

}  // namespace
}  // namespace tessera::cpu
