#pragma once
// Overlapped launches (CUDA's programmatic dependent launch, sm_90): a decode step is a chain of
// matrix-vector products, each bandwidth-bound, and each kernel boundary costs the next kernel's
// launch, its first DRAM round trip and the previous kernel's tail (measured ~4-9 us a product in
// a replayed graph, bench/decode_kernels.cpp). A kernel launched with launch_overlapping may start
// while its predecessor finishes: it requests its weights (which no kernel in flight writes), then
// waits for the predecessor (wait_for_previous_kernel) before reading anything it produced, and
// lets its own successor start (allow_next_kernel).
#include <utility>

#include "backend/cuda/runtime.h"

namespace tessera::cuda {

// Every write of the previous kernel in the stream is visible after this (a no-op for a kernel
// launched normally).
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// The next kernel in the stream, if launched with launch_overlapping, may start its blocks now.
__device__ __forceinline__ void allow_next_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Which operands a kernel may read before waiting: settled() (runtime.h).

template <typename... Params, typename... Args>
void launch_overlapping(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared;
  config.stream = stream();
  config.attrs = &attribute;
  config.numAttrs = 1;
  check(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), "cudaLaunchKernelEx");
}

}  // namespace tessera::cuda
