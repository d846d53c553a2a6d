// Core semantics: laziness, views without copies, intermediates freed during eval, dtypes,
// broadcasting rules, streams and clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/ops.h"

namespace tessera {
namespace {

TEST(Array, OpsAreLazyUntilEval) {
  Array x = random::normal({4, 4}, Dtype::float32, 1);
  Array y = exp(x);
  EXPECT_FALSE(y.evaluated());
  eval(y);
  EXPECT_TRUE(y.evaluated());
  EXPECT_TRUE(y.inputs().empty()) << "an evaluated node keeps no inputs alive";
}

TEST(Array, ViewsShareTheBuffer) {
  Array x = random::normal({6, 8}, Dtype::float32, 2);
  eval(x);
  Array t = transpose(x);
  Array s = slice(x, {1, 2}, {5, 8}, {2, 3});
  Array b = broadcast_to(slice_axis(x, 0, 0, 1), {3, 6, 8});
  Array r = reshape(x, {2, 24});
  eval({t, s, b, r});
  for (const Array& v : {t, s, b, r}) EXPECT_EQ(v.buffer(), x.buffer());
  EXPECT_EQ(t.strides(), (Strides{1, 8}));
  EXPECT_EQ(s.offset(), 1 * 8 + 2);
  EXPECT_EQ(b.strides()[0], 0);
  EXPECT_FALSE(t.is_contiguous());
  // Reshaping a non-contiguous view has to copy, and must still be right.
  Array rt = reshape(t, {48});
  std::vector<float> xv = x.to_vector<float>(), rv = rt.to_vector<float>();
  EXPECT_NE(rt.buffer(), x.buffer());
  EXPECT_EQ(rv[1], xv[8]);  // t[0][1] is x[1][0]
}

TEST(Array, IntermediatesAreFreedDuringEval) {
  // A chain of 16 ops on 4 MB: holding every intermediate would need 68 MB; freeing each once
  // its consumer ran needs the input, one result and one in flight.
  const int64_t n = 1 << 20;
  Array x = random::uniform({n}, Dtype::float32, 3);
  eval(x);
  Array y = x;
  for (int i = 0; i < 16; ++i) y = multiply(add(y, 1.0), 0.5);
  reset_peak_memory();
  size_t before = memory_stats().host_bytes;
  eval(y);
  size_t peak = memory_stats().peak_host_bytes - before;
  EXPECT_LE(peak, size_t(4 * n * 4)) << "peak extra bytes during eval";
  EXPECT_NEAR(y.to_vector<float>()[0], x.to_vector<float>()[0] / 65536.0 + (1 - 1 / 65536.0), 1e-5);
}

TEST(Array, EveryDtypeRoundTrips) {
  for (Dtype d : {Dtype::float32, Dtype::float16, Dtype::bfloat16, Dtype::int8, Dtype::uint8,
                  Dtype::int32, Dtype::int64, Dtype::uint32, Dtype::bool_}) {
    Array a = astype(Array(std::vector<float>{0, 1, 2, 3, 100, 7}, {2, 3}), d);
    std::vector<float> back = astype(a, Dtype::float32).to_vector<float>();
    EXPECT_EQ(back[3], d == Dtype::bool_ ? 1.0f : 3.0f) << name(d);
    EXPECT_EQ(dtype_from_name(name(d)), d);
    EXPECT_EQ(a.nbytes(), 6 * itemsize(d));
  }
}

TEST(Array, PromotionFollowsNumpy) {
  EXPECT_EQ(promote(Dtype::float16, Dtype::bfloat16), Dtype::float32);
  EXPECT_EQ(promote(Dtype::int32, Dtype::float16), Dtype::float16);
  EXPECT_EQ(promote(Dtype::uint8, Dtype::int8), Dtype::int32);
  EXPECT_EQ(promote(Dtype::uint32, Dtype::int64), Dtype::int64);
  EXPECT_EQ(promote(Dtype::bool_, Dtype::int8), Dtype::int8);
  EXPECT_EQ(add(Array(std::vector<int32_t>{1}, {1}), Array(std::vector<float>{0.5f}, {1})).dtype(), Dtype::float32);
}

TEST(Array, HalfConversionsRoundToNearestEven) {
  EXPECT_EQ(to_bfloat16(1.00390625f).bits, to_bfloat16(1.0f).bits);  // tie goes to even
  EXPECT_EQ(to_float(to_float16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(to_float(to_float16(70000.0f))));
  EXPECT_EQ(to_float(to_float16(5.96046448e-08f)), 5.96046448e-08f);  // smallest subnormal
  EXPECT_TRUE(std::isnan(to_float(to_bfloat16(NAN))));
}

TEST(Array, StreamsAreRecorded) {
  Stream s = default_stream();
  EXPECT_EQ(s.device, Device::cpu());
  Array a = exp(Array(std::vector<float>{1}, {1}));
  EXPECT_EQ(a.stream(), s);
  Stream other = new_stream(Device::cpu());
  set_default_stream(other);
  Array b = exp(a);
  EXPECT_EQ(b.stream(), other);
  set_default_stream(s);
  EXPECT_NEAR(b.item<float>(), std::exp(std::exp(1.0f)), 1e-4);
}

TEST(Array, ErrorsNameTheOp) {
  Array a = zeros({2, 3}), b = zeros({4, 5});
  try {
    matmul(a, b);
    FAIL() << "matmul of (2,3) and (4,5) must fail";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "[matmul] shapes (2,3) and (4,5) do not align for matrix product");
  }
  EXPECT_THROW(add(zeros({2, 3}), zeros({3, 2})), Error);
  EXPECT_THROW(reshape(zeros({2, 3}), {4}), Error);
  EXPECT_THROW(take(zeros({3, 2}), Array(std::vector<float>{1}, {1}), 0), Error);
  EXPECT_THROW(eval(take(zeros({3, 2}), Array(std::vector<int32_t>{3}, {1}), 0)), Error);
  EXPECT_THROW(exp(Array(std::vector<int32_t>{1}, {1})), Error);
  // Data positions: one int32, and a start known on the host must fit.
  Array cache = zeros({1, 2, 4, 8}), token = zeros({1, 2, 1, 8});
  EXPECT_THROW(slice_update(cache, token, Array(std::vector<int32_t>{4}, {1}), 2), Error);
  EXPECT_THROW(slice_update(cache, token, Array(std::vector<int64_t>{1}, {1}), 2), Error);
  EXPECT_THROW(slice_update(cache, token, Array(std::vector<int32_t>{1}, {1}), 4), Error);
  EXPECT_THROW(rope(token, 8, false, 1e4f, 1.0f, Array(std::vector<float>{1}, {1})), Error);
  EXPECT_THROW(rope(token, 8, false, 1e4f, 1.0f, Array(std::vector<int32_t>{1, 2}, {2})), Error);
  if (!cuda_available()) EXPECT_THROW(set_default_device(Device::cuda()), Error);
}

TEST(Array, ReshapeIsAViewWhereStridesAllow) {
  // Columns 4..7 of [3, 12] rows split into [3, 2, 2]: evenly spaced, so a view.
  auto split = reshaped_strides({3, 4}, {12, 1}, {3, 2, 2});
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(*split, (Strides{12, 2, 1}));
  // Merging rows that have a gap between them needs a copy.
  EXPECT_FALSE(reshaped_strides({3, 4}, {12, 1}, {12}).has_value());
  // A transposed matrix flattened needs a copy; size-1 dims come and go freely.
  EXPECT_FALSE(reshaped_strides({4, 3}, {1, 4}, {12}).has_value());
  auto ones = reshaped_strides({3, 1, 4}, {12, 99, 1}, {1, 3, 4, 1});
  ASSERT_TRUE(ones.has_value());
  EXPECT_EQ((*ones)[1], 12);
  EXPECT_EQ((*ones)[2], 1);

  // Through the op: the view reads the right elements and shares the buffer.
  Array a = reshape(arange(0, 36, Dtype::float32), {3, 12});
  Array part = slice_axis(a, 1, 4, 8);
  Array heads = reshape(part, {3, 2, 2});
  eval(std::vector<Array>{a, heads});
  EXPECT_EQ(heads.buffer(), a.buffer());
  EXPECT_EQ(contiguous(heads).to_vector<float>(),
            (std::vector<float>{4, 5, 6, 7, 16, 17, 18, 19, 28, 29, 30, 31}));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(Array, EmptyArraysWorkEverywhere) {
  for (Dtype d : {Dtype::float32, Dtype::float16, Dtype::int64}) {
    Array e = zeros({0, 4}, d);
    EXPECT_EQ(contiguous(transpose(e)).size(), 0);
    EXPECT_EQ(astype(e, Dtype::bfloat16).size(), 0);
    EXPECT_EQ(add(e, e).size(), 0);
    EXPECT_EQ(sum(astype(e, Dtype::float32), {0}).to_vector<float>(), std::vector<float>(4, 0.0f));
  }
  EXPECT_EQ(matmul(zeros({3, 0}), zeros({0, 2})).to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(concatenate({zeros({0, 2}), ones({1, 2})}, 0).to_vector<float>(), std::vector<float>(2, 1.0f));
}

}  // namespace
}  // namespace tessera

