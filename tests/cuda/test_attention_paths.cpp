// The CUDA attention kernels at the shapes the op table does not reach: head dims 64 and 128
// (the tensor-core path in float16/bfloat16), long key ranges spanning several tiles, partial
// tiles, masks, causal alignment and grouped-query heads, against the CPU kernel on the same
// inputs. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "support/relative_error.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

struct AttentionCase {
  int64_t batch, heads, kv_heads, sq, sk, dim;
  bool causal;
  int mask;  // 0 none, 1 bool key mask, 2 additive [B,1,Sq,Sk]
  Dtype dtype;
};

using testing_support::relative_error;

class CudaAttention : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(CudaAttention, MatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU";
  const AttentionCase& c = GetParam();
  set_default_device(Device::cpu());
  Array q = random::normal({c.batch, c.heads, c.sq, c.dim}, c.dtype, 1);
  Array k = random::normal({c.batch, c.kv_heads, c.sk, c.dim}, c.dtype, 2);
  Array v = random::normal({c.batch, c.kv_heads, c.sk, c.dim}, c.dtype, 3);
  std::optional<Array> mask;
  if (c.mask == 1) {
    // Every row keeps key 0; the rest at random.
    Array keep = astype(random::randint({c.batch, 1, 1, c.sk}, 0, 2, Dtype::int32, 4), Dtype::bool_);
    mask = where(equal(arange(0, c.sk, Dtype::int32), zeros({1}, Dtype::int32)), ones({1}, Dtype::bool_), keep);
  } else if (c.mask == 2) {
    mask = random::normal({c.batch, 1, c.sq, c.sk}, c.dtype, 5);
  }
  float scale = 1.0f / std::sqrt(float(c.dim));
  Array want = scaled_dot_product_attention(q, k, v, scale, mask, c.causal);
  eval(want);
  set_default_device(Device::cuda(0));
  auto up = [](const Array& a) { return to_device(a, Device::cuda(0)); };
  std::optional<Array> mask_gpu = mask ? std::optional<Array>(up(*mask)) : std::nullopt;
  Array got = scaled_dot_product_attention(up(q), up(k), up(v), scale, mask_gpu, c.causal);
  eval(got);
  set_default_device(Device::cpu());
  double tolerance = c.dtype == Dtype::float32 ? 1e-5 : 1e-2;
  EXPECT_LE(relative_error(got, want), tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaAttention,
    ::testing::Values(AttentionCase{2, 4, 4, 128, 128, 64, false, 1, Dtype::float16},
                      AttentionCase{2, 4, 4, 128, 128, 64, false, 1, Dtype::bfloat16},
                      AttentionCase{1, 4, 2, 100, 200, 128, false, 2, Dtype::float16},
                      AttentionCase{1, 4, 2, 70, 150, 128, true, 0, Dtype::bfloat16},
                      AttentionCase{2, 2, 1, 33, 77, 64, true, 1, Dtype::float16},
                      AttentionCase{1, 2, 2, 65, 65, 64, false, 0, Dtype::float32},
                      AttentionCase{1, 2, 2, 40, 300, 96, false, 2, Dtype::float32},
                      AttentionCase{1, 2, 2, 50, 130, 200, true, 1, Dtype::float16},
                      // BERT-base at 512 tokens (8 key tiles), and a decode step of grouped-query heads.
                      AttentionCase{2, 12, 12, 512, 512, 64, false, 1, Dtype::float16},
                      AttentionCase{1, 8, 2, 1, 300, 128, true, 0, Dtype::bfloat16},
                      AttentionCase{1, 8, 2, 1, 300, 128, true, 0, Dtype::float32}),
    [](const ::testing::TestParamInfo<AttentionCase>& info) {
      const AttentionCase& c = info.param;
      return std::string(name(c.dtype)) + "_d" + std::to_string(c.dim) + "_q" + std::to_string(c.sq) + "_k" +
             std::to_string(c.sk) + (c.causal ? "_causal" : "") + "_mask" + std::to_string(c.mask);
    });

// varlen_attention on packed sequences (one of them empty) against each sequence alone through
// the CPU's scaled_dot_product_attention.
struct VarlenCase {
  int64_t heads, kv_heads, dim;
  bool causal;
  Dtype dtype;
};

class CudaVarlenAttention : public ::testing::TestWithParam<VarlenCase> {};

TEST_P(CudaVarlenAttention, MatchesEachSequenceAlone) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU";
  const VarlenCase& c = GetParam();
  const std::vector<int64_t> cu = {0, 5, 70, 70, 200, 329};
  int64_t tokens = cu.back();
  set_default_device(Device::cpu());
  Array q = random::normal({tokens, c.heads, c.dim}, c.dtype, 11);
  Array k = random::normal({tokens, c.kv_heads, c.dim}, c.dtype, 12);
  Array v = random::normal({tokens, c.kv_heads, c.dim}, c.dtype, 13);
  float scale = 1.0f / std::sqrt(float(c.dim));
  std::vector<Array> parts;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    if (cu[i + 1] == cu[i]) continue;
    auto seq = [&](const Array& x) { return expand_dims(swapaxes(slice_axis(x, 0, cu[i], cu[i + 1]), 0, 1), 0); };
    Array o = scaled_dot_product_attention(seq(q), seq(k), seq(v), scale, std::nullopt, c.causal);
    parts.push_back(swapaxes(squeeze(o, 0), 0, 1));
  }
  Array want = concatenate(parts, 0);
  eval(want);
  set_default_device(Device::cuda(0));
  auto up = [](const Array& a) { return to_device(a, Device::cuda(0)); };
  Array got = varlen_attention(up(q), up(k), up(v), cu, scale, c.causal);
  eval(got);
  set_default_device(Device::cpu());
  double tolerance = c.dtype == Dtype::float32 ? 1e-5 : 1e-2;
  EXPECT_LE(relative_error(got, want), tolerance);
}

INSTANTIATE_TEST_SUITE_P(Packed, CudaVarlenAttention,
                         ::testing::Values(VarlenCase{12, 12, 64, false, Dtype::float16},
                                           VarlenCase{8, 2, 128, true, Dtype::bfloat16},
                                           VarlenCase{4, 4, 64, true, Dtype::float32}),
                         [](const ::testing::TestParamInfo<VarlenCase>& info) {
                           const VarlenCase& c = info.param;
                           return std::string(name(c.dtype)) + "_d" + std::to_string(c.dim) + "_h" +
                                  std::to_string(c.heads) + "_kv" + std::to_string(c.kv_heads) +
                                  (c.causal ? "_causal" : "");
                         });

}  // namespace
}  // namespace tessera
