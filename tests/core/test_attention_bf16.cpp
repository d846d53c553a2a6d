// The fused bfloat16 attention kernel (attention_bf16.cpp) on shapes the op table does not reach:
// several query blocks (32 rows) and key blocks (64 keys), partial last blocks, odd head sizes,
// grouped heads, causal limits, bool / additive masks and varlen sequences longer than a block.
// Reference: the same bf16-rounded inputs through the float32 path.
#include <gtest/gtest.h>

#include <cmath>

#include "support/relative_error.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

using testing_support::relative_error;

struct Inputs {
  Array q, k, v;     // bfloat16
  Array qf, kf, vf;  // the same values in float32
};

Inputs make(Shape qs, Shape ks, Shape vs, uint64_t seed) {
  Inputs x;
  x.q = random::normal(qs, Dtype::bfloat16, seed);
  x.k = random::normal(ks, Dtype::bfloat16, seed + 1);
  x.v = random::normal(vs, Dtype::bfloat16, seed + 2);
  x.qf = astype(x.q, Dtype::float32);
  x.kf = astype(x.k, Dtype::float32);
  x.vf = astype(x.v, Dtype::float32);
  eval({x.q, x.k, x.v, x.qf, x.kf, x.vf});
  return x;
}

TEST(AttentionBf16, ManyBlocksCausalGroupedOddHead) {
  Inputs x = make({2, 4, 77, 40}, {2, 2, 150, 40}, {2, 2, 150, 24}, 11);
  for (bool causal : {false, true}) {
    Array got = scaled_dot_product_attention(x.q, x.k, x.v, 0.2f, std::nullopt, causal);
    Array want = scaled_dot_product_attention(x.qf, x.kf, x.vf, 0.2f, std::nullopt, causal);
    EXPECT_LT(relative_error(got, want), 1e-2) << "causal " << causal;
  }
}

TEST(AttentionBf16, WideHeadsAndDecode) {
  Inputs x = make({1, 8, 45, 128}, {1, 2, 300, 128}, {1, 2, 300, 128}, 41);
  for (bool causal : {false, true}) {
    Array got = scaled_dot_product_attention(x.q, x.k, x.v, 0.09f, std::nullopt, causal);
    Array want = scaled_dot_product_attention(x.qf, x.kf, x.vf, 0.09f, std::nullopt, causal);
    EXPECT_LT(relative_error(got, want), 1e-2) << "causal " << causal;
  }
  Inputs d = make({3, 4, 1, 128}, {3, 4, 257, 128}, {3, 4, 257, 128}, 51);  // one query row
  EXPECT_LT(relative_error(scaled_dot_product_attention(d.q, d.k, d.v, 0.09f),
                           scaled_dot_product_attention(d.qf, d.kf, d.vf, 0.09f)),
            1e-2);
}

TEST(AttentionBf16, MasksOverManyBlocks) {
  Inputs x = make({1, 3, 100, 64}, {1, 3, 200, 64}, {1, 3, 200, 80}, 21);
  Array keep = greater(random::randint({1, 3, 100, 200}, 0, 4, Dtype::int32, 5),
                       Array::scalar(0, Dtype::int32));
  Array add = random::normal({1, 1, 1, 200}, Dtype::bfloat16, 6);
  Array add_f = astype(add, Dtype::float32);
  EXPECT_LT(relative_error(scaled_dot_product_attention(x.q, x.k, x.v, 0.125f, keep),
                           scaled_dot_product_attention(x.qf, x.kf, x.vf, 0.125f, keep)),
            1e-2);
  EXPECT_LT(relative_error(scaled_dot_product_attention(x.q, x.k, x.v, 0.125f, add, true),
                           scaled_dot_product_attention(x.qf, x.kf, x.vf, 0.125f, add_f, true)),
            1e-2);
}

TEST(AttentionBf16, VarlenLongSequences) {
  Inputs x = make({300, 4, 64}, {300, 2, 64}, {300, 2, 64}, 31);
  std::vector<int64_t> bounds = {0, 5, 140, 140, 300};
  for (bool causal : {false, true}) {
    Array got = varlen_attention(x.q, x.k, x.v, bounds, 0.125f, causal);
    Array want = varlen_attention(x.qf, x.kf, x.vf, bounds, 0.125f, causal);
    EXPECT_LT(relative_error(got, want), 1e-2) << "causal " << causal;
  }
}

}  // namespace
}  // namespace tessera
