// calibrated_quantize on small random layers: valid MLX-format output that dequantizes to what it
// packed, never worse than round-to-nearest on its own objective, and one-line errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "models/calibrated_quantize.h"
#include "runtime/calibration.h"

namespace tessera {
namespace {

// E[x x^T] of random inputs whose channels differ in scale (as LayerNorm outputs do), plus a few
// correlated ones, so the objective is far from plain weight error.
std::vector<double> random_second_moment(int64_t in, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> scale(static_cast<size_t>(in));
  for (auto& s : scale) s = std::exp(normal(rng));
  const int samples = 4 * int(in);
  std::vector<double> gram(size_t(in * in), 0.0), x(static_cast<size_t>(in));
  for (int s = 0; s < samples; ++s) {
    const double shared = normal(rng);
    for (int64_t i = 0; i < in; ++i)
      x[size_t(i)] = scale[size_t(i)] * (normal(rng) + (i % 7 == 0 ? shared : 0));
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < in; ++j)
        gram[size_t(i * in + j)] += x[size_t(i)] * x[size_t(j)] / samples;
  }
  return gram;
}

struct Format {
  int bits, group_size;
};

class CalibratedQuantize : public ::testing::TestWithParam<Format> {};

TEST_P(CalibratedQuantize, NeverWorseThanRoundToNearestOnTheCalibrationObjective) {
  const QuantizationSpec spec{GetParam().group_size, GetParam().bits};
  const int64_t out = 24, in = 256;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Array w = random::normal({out, in}, Dtype::float32, seed, 0.0, 0.05);
    std::vector<double> gram = random_second_moment(in, seed + 100);
    QuantizedArrays calibrated = calibrated_quantize(w, gram, spec);
    QuantizedArrays nearest = quantize(w, spec.group_size, spec.bits);
    const double e_cal = calibration_error(w, calibrated, gram, spec);
    const double e_rtn = calibration_error(w, nearest, gram, spec);
    EXPECT_LE(e_cal, e_rtn) << "seed " << seed;
    std::printf("%d-bit group %d seed %llu: calibrated error %.4g, round-to-nearest %.4g\n",
                spec.bits, spec.group_size, static_cast<unsigned long long>(seed), e_cal, e_rtn);
  }
}

TEST_P(CalibratedQuantize, WritesValidPackedFormatThatDequantizesAsPacked) {
  const QuantizationSpec spec{GetParam().group_size, GetParam().bits};
  const int64_t out = 8, in = 128;
  for (Dtype dtype : {Dtype::float32, Dtype::bfloat16}) {
    Array w = astype(random::normal({out, in}, Dtype::float32, 7, 0.0, 0.1), dtype);
    QuantizedArrays q = calibrated_quantize(w, random_second_moment(in, 9), spec);
    ASSERT_EQ(q.weight.dtype(), Dtype::uint32);
    ASSERT_EQ(q.weight.shape(), (Shape{out, in * spec.bits / 32}));
    ASSERT_EQ(q.scales.shape(), (Shape{out, in / spec.group_size}));
    ASSERT_EQ(q.biases.shape(), (Shape{out, in / spec.group_size}));
    EXPECT_EQ(q.scales.dtype(), dtype);
    EXPECT_EQ(q.biases.dtype(), dtype);
    // Unpack by hand (low bits first) and compare with the dequantize op MLX's format uses.
    std::vector<uint32_t> words = q.weight.to_vector<uint32_t>();
    std::vector<float> scales = astype(q.scales, Dtype::float32).to_vector<float>();
    std::vector<float> biases = astype(q.biases, Dtype::float32).to_vector<float>();
    std::vector<float> dq =
        astype(dequantize(q.weight, q.scales, q.biases, spec.group_size, spec.bits), Dtype::float32)
            .to_vector<float>();
    const int per_word = 32 / spec.bits;
    const uint32_t mask = (1u << spec.bits) - 1;
    for (int64_t r = 0; r < out; ++r)
      for (int64_t i = 0; i < in; ++i) {
        const uint32_t level =
            (words[size_t((r * in + i) / per_word)] >> (spec.bits * (i % per_word))) & mask;
        const size_t g = size_t(r * (in / spec.group_size) + i / spec.group_size);
        const float expected = scales[g] * float(level) + biases[g];
        ASSERT_NEAR(dq[size_t(r * in + i)], expected, 1e-2 * std::abs(expected) + 1e-6)
            << r << "," << i;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, CalibratedQuantize,
                         ::testing::Values(Format{4, 64}, Format{4, 32}, Format{4, 128},
                                           Format{8, 64}, Format{2, 64}),
                         [](const ::testing::TestParamInfo<Format>& info) {
                           return std::to_string(info.param.bits) + "bit_group" +
                                  std::to_string(info.param.group_size);
                         });

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CalibratedQuantizeErrors, OneLineEach) {
  Array w = random::normal({4, 64}, Dtype::float32, 1);
  std::vector<double> gram = random_second_moment(64, 2);
  std::string bits = error_of([&] { calibrated_quantize(w, gram, {64, 3}); });
  EXPECT_NE(bits.find("3-bit quantization is not supported"), std::string::npos) << bits;
  std::string size = error_of([&] { calibrated_quantize(w, std::vector<double>(10), {64, 4}); });
  EXPECT_NE(size.find("expected 4096"), std::string::npos) << size;
  std::string group = error_of([&] {
    calibrated_quantize(random::normal({4, 96}, Dtype::float32, 1), gram, {64, 4});
  });
  EXPECT_NE(group.find("not a multiple of the group size"), std::string::npos) << group;

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / "tessera_calibration_errors";
  std::filesystem::create_directories(dir);
  std::string missing = error_of([&] { read_calibration_texts((dir / "absent.txt").string()); });
  EXPECT_NE(missing.find("no such calibration file"), std::string::npos) << missing;
  std::ofstream(dir / "blank.txt") << "\n   \n\t\n";
  std::string empty = error_of([&] { read_calibration_texts((dir / "blank.txt").string()); });
  EXPECT_NE(empty.find("has no text"), std::string::npos) << empty;
  for (const std::string& e : {bits, size, group, missing, empty})
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  std::filesystem::remove_all(dir);
}

TEST(CalibrationTexts, NonEmptyLinesWithoutCarriageReturns) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / "tessera_calibration_texts.txt";
  std::ofstream(file) << "first line\r\n\nsecond  line\n   \nthird";
  EXPECT_EQ(read_calibration_texts(file.string()),
            (std::vector<std::string>{"first line", "second  line", "third"}));
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace tessera
