#pragma once
// linear's input_norm (ops.h) inside a matrix-vector kernel: every block recomputes rms_norm of
// x's row (a few KB, read from L2) instead of the norm taking a launch of its own in a decode
// step. Each normalised value is rounded to T where rms_norm's output would be, and scaled in
// rms_norm's order ((x * inverse) * weight), so the fused product equals the separate ops' up to
// the order of the sum of squares.
#include "backend/cuda/device_types.cuh"

namespace tessera::cuda {

template <typename T>
struct InputNorm {
  const T* weight = nullptr;  // [k]; nullptr: no norm, x is read as it is
  float eps = 0.0f;

  // 1 / sqrt(mean(row^2) + eps), the same in every thread of the block. Every thread must call it
  // (it synchronises the block twice).
  __device__ float inverse_rms(const T* row, int64_t k) const {
    __shared__ float partial[32];
    float squares = 0.0f;
    for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
      const float v = load(row[i]);
      squares += v * v;
    }
    squares = warp_sum(squares);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = squares;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < int(blockDim.x + 31) / 32; ++w) total += partial[w];
    __syncthreads();  // `partial` is free for the next row
    return rsqrtf(total / float(k) + eps);
  }

  // Feature i of the normalised row, as rms_norm stores it.
  __device__ T normalized(float x, int64_t i, float inverse) const { return store<T>(x * inverse * load(weight[i])); }
};

}  // namespace tessera::cuda
