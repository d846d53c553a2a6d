#pragma once
// linear's input_norm (ops.h) inside a matrix-vector kernel: every block stages rms_norm of x's
// row in shared memory (a few KB, read from L2) instead of the norm taking a launch of its own in
// a decode step. Each normalised value is rounded to T where rms_norm's output would be, and
// scaled in rms_norm's order ((x * inverse) * weight), so the fused product equals the separate
// ops' up to the order of the sum of squares.
//
// The staging sits on the kernel's critical path (the weights stream only after it), so it is
// built for latency: a thread's share of the row and of the weight arrives in one round of
// 16-byte loads, all issued before any is used (a first version looped over scalar loads and
// made each decode launch ~10 us slower than the norm's own launch).
#include "backend/cuda/device_types.cuh"

namespace tessera::cuda {

template <typename T>
struct InputNorm {
  const T* weight = nullptr;  // [k]; nullptr: no norm, x is read as it is
  float eps = 0.0f;

  // dst[0:k] = rms_norm(row[0:k]) for the whole block: every thread must call it, and dst (shared
  // memory) is complete after the caller's next __syncthreads(). row, weight and dst 16-byte
  // aligned, k a multiple of 16 / sizeof(T).
  __device__ void stage(const T* row, int64_t k, T* dst) const {
    using V = Vector16<T>;
    constexpr int E = V::kCount;
    // Vectors a thread holds in registers between reading and writing: rows of up to
    // kHeld * E * blockDim values (bfloat16, 256 threads: 4096) are read once.
    constexpr int kHeld = 2;
    const V* in = reinterpret_cast<const V*>(row);
    const V* w = reinterpret_cast<const V*>(weight);
    V* out = reinterpret_cast<V*>(dst);
    const int64_t vectors = k / E;
    const bool held = vectors <= int64_t(kHeld) * blockDim.x;
    V xv[kHeld], wv[kHeld];
    float squares = 0.0f;
    if (held) {
#pragma unroll
      for (int j = 0; j < kHeld; ++j) {
        const int64_t c = threadIdx.x + int64_t(j) * blockDim.x;
        if (c < vectors) {
          xv[j] = in[c];
          wv[j] = w[c];
        }
      }
#pragma unroll
      for (int j = 0; j < kHeld; ++j)
        if (threadIdx.x + int64_t(j) * blockDim.x < vectors)
#pragma unroll
          for (int e = 0; e < E; ++e) squares += load(xv[j].v[e]) * load(xv[j].v[e]);
    } else {
      for (int64_t c = threadIdx.x; c < vectors; c += blockDim.x) {
        const V a = in[c];
#pragma unroll
        for (int e = 0; e < E; ++e) squares += load(a.v[e]) * load(a.v[e]);
      }
    }
    const float inverse = rsqrtf(block_sum(squares) / float(k) + eps);
    auto write = [&](int64_t c, const V& a, const V& scale) {
      V y;
#pragma unroll
      for (int e = 0; e < E; ++e) y.v[e] = store<T>(load(a.v[e]) * inverse * load(scale.v[e]));
      out[c] = y;
    };
    if (held) {
#pragma unroll
      for (int j = 0; j < kHeld; ++j) {
        const int64_t c = threadIdx.x + int64_t(j) * blockDim.x;
        if (c < vectors) write(c, xv[j], wv[j]);
      }
    } else {
      for (int64_t c = threadIdx.x; c < vectors; c += blockDim.x) write(c, in[c], w[c]);
    }
  }

 private:
  // The sum of v over the block, the same in every thread (two barriers).
  __device__ static float block_sum(float v) {
    __shared__ float partial[32];
    v = warp_sum(v);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    float total = 0.0f;
    for (int i = 0; i < int(blockDim.x + 31) / 32; ++i) total += partial[i];
    __syncthreads();  // `partial` is free for the next row
    return total;
  }
};

}  // namespace tessera::cuda
