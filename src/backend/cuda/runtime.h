#pragma once
// The CUDA backend's process-wide state: the stream every kernel runs on, the op being evaluated
// (so that errors name it), checked CUDA calls, and a device-side error flag that kernels raise
// for data-dependent errors (an index out of range) without a host round trip; it is read at
// the next synchronisation.
#include <cuda_runtime.h>

#include <string>

#include "tessera/error.h"

namespace tessera {
class Array;
}

namespace tessera::cuda {

// The device address of an array's first element (its buffer's device copy, made on demand,
// plus its offset in bytes).
const void* device_address(const Array& a);

// Whether a kernel may read `a` before waiting on the previous kernel (overlap.cuh): its device
// bytes were written before the stream's last full synchronisation, or only uploaded from the
// host (weights loaded or prepared at load time), so no kernel still in flight writes them.
bool settled(const Array& a);

// Initialises the backend on first use (registers the device memory); false without a GPU.
bool initialize();

// All work is ordered on one stream per process: a caching allocator that reuses a block as soon
// as it is released is safe only in stream order.
cudaStream_t stream();

// Device properties read once.
int multiprocessor_count();

// Names the op whose eval_cuda is running, for error messages from shared code (allocator,
// copies, launches). Scopes nest; the innermost wins.
class OpScope {
 public:
  explicit OpScope(const char* op);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  const char* previous_;
};
const char* current_op();

// Throws "[op] CUDA error: <message> (<call>)".
[[noreturn]] void fail_cuda(cudaError_t error, const char* call);
inline void check(cudaError_t error, const char* call) {
  if (error != cudaSuccess) fail_cuda(error, call);
}
// After every launch: a bad configuration is reported here, asynchronous faults at the next sync.
void check_launch(const char* kernel);

// Kernels set *error_flag() to one of these; synchronize_stream() turns it into an Error.
enum class DeviceError : int { none = 0, index_out_of_range = 1, integer_division_by_zero = 2, expert_out_of_range = 3 };
int* error_flag();
// Waits for the stream, then reports any asynchronous fault or device-side error.
void synchronize_stream();

// Blocks and grid size for a grid-stride loop over n elements.
struct LaunchShape {
  unsigned blocks, threads;
};
LaunchShape launch_shape(int64_t n, unsigned threads = 256);

}  // namespace tessera::cuda

#define TESSERA_CUDA_CHECK(call) ::tessera::cuda::check((call), #call)
