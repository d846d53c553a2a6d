// Scaled dot-product attention: per (batch, head), scores = scale * Q K^T, then mask, causal
// limit and softmax per row, then P V. Heads run in parallel; each head's products go through
// the GEMM interface (single-threaded inside the parallel region). bfloat16 inputs on AMX CPUs go
// to the fused kernel of attention_bf16.cpp instead (no [S, S] scores, no float32 copies of Q, K,
// V; TESSERA_FLASH_BF16=0 turns it off).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "backend/cpu/attention_flash.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace cpu {
void softmax_row(float* row, int64_t n);
}

namespace {

// An attention operand ([B,H,S,D], or packed [T,H,D]) in float32 with unit stride along its last
// axis, read in place when possible.
struct HeadMajor {
  const float* data;
  Strides strides;
  std::shared_ptr<Buffer> owned;
};

HeadMajor head_major(const Array& a) {
  if (a.dtype() == Dtype::float32 && a.strides().back() == 1)
    return {cpu::host_data<float>(a), a.strides(), nullptr};
  cpu::Float32View f = cpu::as_float32(a);
  return {f.data, row_major_strides(a.shape()), f.owned};
}

// One (sequence, head): scores = scale * Q K^T in `scores` [sq, sk], then the mask (additive,
// or bool through `mask_b`, read at mask + i * mask_row + j * mask_col), the causal limit and
// softmax per row, then O = P V into `o` (row stride o_row).
struct HeadOperands {
  const float *q, *k, *v;
  int64_t q_row, k_row, v_row;
  float* o;
  int64_t o_row;
};

struct HeadMask {
  const float* additive = nullptr;
  const bool* keep = nullptr;
  int64_t row = 0, col = 0;
};

void attend_head(const HeadOperands& x, int64_t sq, int64_t sk, int64_t d, int64_t dv, float scale, bool causal,
                 const HeadMask& mask, float* scores) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  cpu::gemm_f32(false, true, sq, sk, d, scale, x.q, x.q_row, x.k, x.k_row, 0.0f, scores, sk);
  for (int64_t i = 0; i < sq; ++i) {
    float* row = scores + i * sk;
    if (mask.keep) {
      for (int64_t j = 0; j < sk; ++j) row[j] = mask.keep[i * mask.row + j * mask.col] ? row[j] : neg_inf;
    } else if (mask.additive) {
      for (int64_t j = 0; j < sk; ++j) row[j] += mask.additive[i * mask.row + j * mask.col];
    }
    if (causal)  // query i sees keys up to i + (sk - sq)
      for (int64_t j = i + (sk - sq) + 1; j < sk; ++j) row[j] = neg_inf;
    cpu::softmax_row(row, sk);
  }
  cpu::gemm_f32(false, false, sq, dv, sk, 1.0f, scores, sk, x.v, x.v_row, 0.0f, x.o, x.o_row);
}

// Whether Q, K, V take the fused bfloat16 kernel.
bool use_flash_bf16(const Array& q, const Array& k, const Array& v) {
  static const bool enabled = [] {
    const char* env = std::getenv("TESSERA_FLASH_BF16");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return enabled && q.dtype() == Dtype::bfloat16 && k.dtype() == Dtype::bfloat16 && v.dtype() == Dtype::bfloat16 &&
         cpu::flash_bf16_available();
}

const uint16_t* bf16_bits(const Array& a) { return cpu::host_data<uint16_t>(a); }

// A 16-bit float mask [B, H, Sq, Sk] in float32 without materialising its broadcast dimensions
// (stride 0 stays 0): a key mask broadcast over heads and queries stays Sk values, not H Sq Sk.
struct CompactMask {
  std::vector<float> data;
  Strides strides;
};

template <typename T>
CompactMask compact_mask(const Array& m) {
  const T* src = cpu::host_data<T>(m);
  const Strides& in = m.strides();
  Shape extent(4);
  Strides out(4);
  int64_t size = 1;
  for (int a = 3; a >= 0; --a) {
    extent[size_t(a)] = in[size_t(a)] == 0 ? 1 : m.shape(a);
    out[size_t(a)] = in[size_t(a)] == 0 ? 0 : size;
    size *= extent[size_t(a)];
  }
  CompactMask c{std::vector<float>(size_t(size)), out};
  for (int64_t i0 = 0; i0 < extent[0]; ++i0)
    for (int64_t i1 = 0; i1 < extent[1]; ++i1)
      for (int64_t i2 = 0; i2 < extent[2]; ++i2)
        for (int64_t i3 = 0; i3 < extent[3]; ++i3)
          c.data[size_t(i0 * out[0] + i1 * out[1] + i2 * out[2] + i3 * out[3])] =
              cpu::load(src[i0 * in[0] + i1 * in[1] + i2 * in[2] + i3 * in[3]]);
  return c;
}

}  // namespace

void ScaledDotProductAttention::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array &q_arr = inputs[0], &k_arr = inputs[1], &v_arr = inputs[2];
  int64_t batch = q_arr.shape(0), heads = q_arr.shape(1), sq = q_arr.shape(2), d = q_arr.shape(3);
  int64_t kv_heads = k_arr.shape(1), sk = k_arr.shape(2), dv = v_arr.shape(3);
  int64_t group = heads / kv_heads;
  bool flash = use_flash_bf16(q_arr, k_arr, v_arr);

  // Additive mask in float32 (bool: false -> -inf), read through its broadcast strides.
  const Array* mask = has_mask ? &inputs[3] : nullptr;
  cpu::Float32View mask_f{nullptr, nullptr};
  const bool* mask_b = nullptr;
  Strides ms;
  CompactMask compact;
  if (mask) {
    if (mask->dtype() == Dtype::bool_) {
      mask_b = cpu::host_data<bool>(*mask);
      ms = mask->strides();
    } else if (mask->dtype() == Dtype::bfloat16 || mask->dtype() == Dtype::float16) {
      compact = mask->dtype() == Dtype::bfloat16 ? compact_mask<bfloat16>(*mask) : compact_mask<float16>(*mask);
      mask_f.data = compact.data.data();
      ms = compact.strides;
    } else {
      mask_f = cpu::as_float32(*mask);
      ms = mask_f.owned ? row_major_strides(mask->shape()) : mask->strides();
    }
  }

  if (flash) {
    const Strides &qs = q_arr.strides(), &ks = k_arr.strides(), &vs = v_arr.strides();
    std::vector<cpu::FlashKeys> units;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < kv_heads; ++h)
        units.push_back({{bf16_bits(k_arr) + b * ks[0] + h * ks[1], ks[2], ks[3]},
                         {bf16_bits(v_arr) + b * vs[0] + h * vs[1], vs[2], vs[3]}, sk});
    cpu::write_float32_result(out, [&](float* o) {
      std::vector<cpu::FlashQuery> queries;
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < heads; ++h) {
          cpu::FlashMask fm;
          if (mask) {
            int64_t base = b * ms[0] + h * ms[1];
            fm = {mask_b ? nullptr : mask_f.data + base, mask_b ? mask_b + base : nullptr, ms[2], ms[3]};
          }
          queries.push_back({{bf16_bits(q_arr) + b * qs[0] + h * qs[1], qs[2], qs[3]}, sq, b * kv_heads + h / group,
                             fm, o + (b * heads + h) * sq * dv, dv});
        }
      cpu::flash_attention_bf16(units, queries, d, dv, scale, causal);
    });
    return;
  }
  HeadMajor q = head_major(q_arr), k = head_major(k_arr), v = head_major(v_arr);
  cpu::write_float32_result(out, [&](float* o) {
#pragma omp parallel
  {
    std::vector<float> scores(size_t(sq * sk));
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t h = 0; h < heads; ++h) {
        int64_t hk = h / group;
        HeadOperands x{q.data + b * q.strides[0] + h * q.strides[1],
                       k.data + b * k.strides[0] + hk * k.strides[1],
                       v.data + b * v.strides[0] + hk * v.strides[1],
                       q.strides[2], k.strides[2], v.strides[2],
                       o + (b * heads + h) * sq * dv, dv};
        HeadMask head_mask;
        if (mask) {
          int64_t base = b * ms[0] + h * ms[1];
          head_mask = {mask_b ? nullptr : mask_f.data + base, mask_b ? mask_b + base : nullptr, ms[2], ms[3]};
        }
        attend_head(x, sq, sk, d, dv, scale, causal, head_mask, scores.data());
      }
    }
  }
  });
}

void VarlenAttention::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array &q_arr = inputs[0], &k_arr = inputs[1], &v_arr = inputs[2];
  int64_t heads = q_arr.shape(1), d = q_arr.shape(2), kv_heads = k_arr.shape(1), dv = v_arr.shape(2);
  int64_t group = heads / kv_heads;
  const int32_t* bounds = cpu::host_data<int32_t>(inputs[3]);  // built contiguous by varlen_attention
  int64_t sequences = inputs[3].size() - 1;
  if (use_flash_bf16(q_arr, k_arr, v_arr)) {
    const Strides &qs = q_arr.strides(), &ks = k_arr.strides(), &vs = v_arr.strides();
    std::vector<cpu::FlashKeys> units;
    for (int64_t s = 0; s < sequences; ++s)
      for (int64_t h = 0; h < kv_heads; ++h) {
        int64_t first = bounds[s], length = bounds[s + 1] - first;
        units.push_back({{bf16_bits(k_arr) + first * ks[0] + h * ks[1], ks[0], ks[2]},
                         {bf16_bits(v_arr) + first * vs[0] + h * vs[1], vs[0], vs[2]}, length});
      }
    cpu::write_float32_result(out, [&](float* o) {
      std::vector<cpu::FlashQuery> queries;
      for (int64_t s = 0; s < sequences; ++s)
        for (int64_t h = 0; h < heads; ++h) {
          int64_t first = bounds[s], length = bounds[s + 1] - first;
          queries.push_back({{bf16_bits(q_arr) + first * qs[0] + h * qs[1], qs[0], qs[2]}, length,
                             s * kv_heads + h / group, cpu::FlashMask{}, o + first * heads * dv + h * dv,
                             heads * dv});
        }
      cpu::flash_attention_bf16(units, queries, d, dv, scale, causal);
    });
    return;
  }
  // [T,H,D]: strides[0] steps along a sequence's rows, strides[1] across heads.
  HeadMajor q = head_major(q_arr), k = head_major(k_arr), v = head_major(v_arr);
  const Strides &qs = q.strides, &ks = k.strides, &vs = v.strides;

  cpu::write_float32_result(out, [&](float* o) {
#pragma omp parallel
  {
    std::vector<float> scores(size_t(max_seqlen * max_seqlen));
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t s = 0; s < sequences; ++s) {
      for (int64_t h = 0; h < heads; ++h) {
        int64_t first = bounds[s], length = bounds[s + 1] - first;
        if (length == 0) continue;
        int64_t hk = h / group;
        HeadOperands x{q.data + first * qs[0] + h * qs[1], k.data + first * ks[0] + hk * ks[1],
                       v.data + first * vs[0] + hk * vs[1], qs[0], ks[0], vs[0],
                       o + first * heads * dv + h * dv, heads * dv};
        attend_head(x, length, length, d, dv, scale, causal, HeadMask{}, scores.data());
      }
    }
  }
  });
}

}  // namespace tessera
