#pragma once
// Epilogue arithmetic shared by the matrix-vector kernels (gemv.cu, gather_matmul.cu): the fused
// activation, and rounding to the output dtype where the separate ops would round, so a fused
// epilogue gives the unfused result bit for bit.
#include "backend/cuda/device_types.cuh"
#include "tessera/activation.h"

namespace tessera::cuda {

// What storing v as T and reading it back gives (the separate ops round there).
template <typename T>
__device__ __forceinline__ float rounded(float v) {
  return load(store<T>(v));
}

// The elementwise kernels' formulas (elementwise.cu), so fused and separate passes agree.
__device__ __forceinline__ float activate(Activation a, float x) {
  switch (a) {
    case Activation::silu: return x / (1.0f + expf(-x));
    case Activation::gelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    case Activation::gelu_tanh: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case Activation::relu: return fmaxf(x, 0.0f);
    case Activation::tanh: return tanhf(x);
    default: return x;
  }
}

}  // namespace tessera::cuda
