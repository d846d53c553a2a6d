// Scaled dot-product attention: per (batch, head), scores = scale * Q K^T, then mask, causal
// limit and softmax per row, then P V. Heads run in parallel; each head's products go through
// the GEMM interface (single-threaded inside the parallel region).
#include <cmath>
#include <limits>

#include "backend/cpu/gemm.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace cpu {
void softmax_row(float* row, int64_t n);
}

namespace {

// A [B,H,S,D] operand in float32 with unit stride along D, read in place when possible.
struct HeadMajor {
  const float* data;
  Strides strides;
  std::shared_ptr<Buffer> owned;
};

HeadMajor head_major(const Array& a) {
  if (a.dtype() == Dtype::float32 && a.strides()[3] == 1)
    return {cpu::host_data<float>(a), a.strides(), nullptr};
  cpu::Float32View f = cpu::as_float32(a);
  return {f.data, row_major_strides(a.shape()), f.owned};
}

}  // namespace

void ScaledDotProductAttention::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array &q_arr = inputs[0], &k_arr = inputs[1], &v_arr = inputs[2];
  out.allocate();
  int64_t batch = q_arr.shape(0), heads = q_arr.shape(1), sq = q_arr.shape(2), d = q_arr.shape(3);
  int64_t kv_heads = k_arr.shape(1), sk = k_arr.shape(2), dv = v_arr.shape(3);
  int64_t group = heads / kv_heads;
  HeadMajor q = head_major(q_arr), k = head_major(k_arr), v = head_major(v_arr);

  std::shared_ptr<Buffer> scratch;
  float* o;
  if (out.dtype() == Dtype::float32) {
    o = static_cast<float*>(out.buffer()->mutable_host());
  } else {
    scratch = Buffer::allocate_host(size_t(out.size()) * sizeof(float));
    o = static_cast<float*>(scratch->mutable_host());
  }

  // Additive mask in float32 (bool: false -> -inf), read through its broadcast strides.
  const Array* mask = has_mask ? &inputs[3] : nullptr;
  cpu::Float32View mask_f{nullptr, nullptr};
  const bool* mask_b = nullptr;
  Strides ms;
  if (mask) {
    if (mask->dtype() == Dtype::bool_) {
      mask_b = cpu::host_data<bool>(*mask);
      ms = mask->strides();
    } else {
      mask_f = cpu::as_float32(*mask);
      ms = mask_f.owned ? row_major_strides(mask->shape()) : mask->strides();
    }
  }
  const float neg_inf = -std::numeric_limits<float>::infinity();
  float scale_ = scale;
  bool causal_ = causal;

#pragma omp parallel
  {
    std::vector<float> scores(size_t(sq * sk));
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t h = 0; h < heads; ++h) {
        int64_t hk = h / group;
        const float* qp = q.data + b * q.strides[0] + h * q.strides[1];
        const float* kp = k.data + b * k.strides[0] + hk * k.strides[1];
        const float* vp = v.data + b * v.strides[0] + hk * v.strides[1];
        cpu::gemm_f32(false, true, sq, sk, d, scale_, qp, q.strides[2], kp, k.strides[2], 0.0f,
                      scores.data(), sk);
        for (int64_t i = 0; i < sq; ++i) {
          float* row = scores.data() + i * sk;
          if (mask) {
            int64_t base = b * ms[0] + h * ms[1] + i * ms[2];
            for (int64_t j = 0; j < sk; ++j) {
              if (mask_b)
                row[j] = mask_b[base + j * ms[3]] ? row[j] : neg_inf;
              else
                row[j] += mask_f.data[base + j * ms[3]];
            }
          }
          if (causal_)  // query i sees keys up to i + (sk - sq)
            for (int64_t j = i + (sk - sq) + 1; j < sk; ++j) row[j] = neg_inf;
          cpu::softmax_row(row, sk);
        }
        float* op = o + (b * heads + h) * sq * dv;
        cpu::gemm_f32(false, false, sq, dv, sk, 1.0f, scores.data(), sk, vp, v.strides[2], 0.0f,
                      op, dv);
      }
    }
  }
  if (scratch) {
    Array tmp = Array::from_buffer(scratch, out.shape(), Dtype::float32);
    cpu::copy_to_contiguous(tmp, out.buffer()->mutable_host(), out.dtype());
  }
}

}  // namespace tessera
