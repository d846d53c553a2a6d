#include "backend/cuda/runtime.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "backend/cuda/caching_allocator.h"
#include "core/profiler.h"
#include "tessera/array.h"
#include "tessera/buffer.h"
#include "tessera/device.h"

namespace tessera {

namespace cuda {

namespace {

struct Runtime {
  bool available = false;
  cudaStream_t stream = nullptr;
  int multiprocessors = 1;
  int* host_error_flag = nullptr;    // mapped pinned memory: read after a sync, no copy
  int* device_error_flag = nullptr;  // the same memory as kernels see it
};

Runtime& runtime() {
  static Runtime r = [] {
    Runtime rt;
    int count = 0;
    // Without a driver or a GPU this returns an error instead of crashing: then no CUDA.
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
      (void)cudaGetLastError();
      return rt;
    }
    if (cudaSetDevice(0) != cudaSuccess || cudaStreamCreateWithFlags(&rt.stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaDeviceGetAttribute(&rt.multiprocessors, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess ||
        cudaHostAlloc(reinterpret_cast<void**>(&rt.host_error_flag), sizeof(int), cudaHostAllocMapped) != cudaSuccess ||
        cudaHostGetDevicePointer(reinterpret_cast<void**>(&rt.device_error_flag), rt.host_error_flag, 0) != cudaSuccess) {
      (void)cudaGetLastError();
      return rt;
    }
    *rt.host_error_flag = 0;
    register_device_memory(DeviceType::cuda, &allocator());
    rt.available = true;
    return rt;
  }();
  return r;
}

thread_local const char* t_current_op = "cuda";

// Each device-side error belongs to one op; it is reported under that op's name.
std::pair<const char*, const char*> device_error_message(int code) {
  switch (DeviceError(code)) {
    case DeviceError::index_out_of_range: return {"take", "index out of range (found on the GPU)"};
    case DeviceError::integer_division_by_zero: return {"divide", "integer division by zero"};
    case DeviceError::expert_out_of_range: return {"gather_matmul", "expert index out of range (found on the GPU)"};
    case DeviceError::none: break;
  }
  return {current_op(), "unknown device-side error"};
}

}  // namespace

bool initialize() { return runtime().available; }

cudaStream_t stream() { return runtime().stream; }

int multiprocessor_count() { return runtime().multiprocessors; }

OpScope::OpScope(const char* op) : previous_(t_current_op) { t_current_op = op; }
OpScope::~OpScope() {
  // Under TESSERA_PROFILE the core times each eval_cuda on the host; waiting here makes that
  // the kernels' time rather than their launch time.
  if (profiler::enabled()) cudaStreamSynchronize(stream());
  t_current_op = previous_;
}
const char* current_op() { return t_current_op; }

void fail_cuda(cudaError_t error, const char* call) {
  (void)cudaGetLastError();  // clear a non-sticky error so the next op starts clean
  fail(current_op(), std::string("CUDA error: ") + cudaGetErrorString(error) + " (" + call + ")");
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

int* error_flag() { return runtime().device_error_flag; }

void synchronize_stream() {
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  count_device_sync();
  int code = *runtime().host_error_flag;
  if (code != 0) {
    *runtime().host_error_flag = 0;
    auto [op, message] = device_error_message(code);
    fail(op, message);
  }
}

bool settled(const Array& a) { return a.buffer()->device_written_at() < device_sync_count(); }

const void* device_address(const Array& a) {
  return static_cast<const uint8_t*>(a.buffer()->device(Device::cuda(0))) + a.offset() * int64_t(itemsize(a.dtype()));
}

LaunchShape launch_shape(int64_t n, unsigned threads) {
  int64_t needed = (std::max<int64_t>(n, 1) + threads - 1) / threads;
  int64_t cap = int64_t(multiprocessor_count()) * 32;  // grid-stride loops cover the rest
  return {unsigned(std::min(needed, cap)), threads};
}

}  // namespace cuda

bool cuda_available() { return cuda::initialize(); }

}  // namespace tessera
