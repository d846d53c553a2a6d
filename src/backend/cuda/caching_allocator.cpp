#include "backend/cuda/caching_allocator.h"

#include <bit>

#include "backend/cuda/runtime.h"

namespace tessera::cuda {

size_t CachingAllocator::bucket_size(size_t bytes) {
  constexpr size_t kSmallStep = 512, kSmallLimit = size_t(1) << 20;
  bytes = std::max<size_t>(bytes, 1);
  if (bytes <= kSmallLimit) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  size_t step = std::bit_floor(bytes) / 8;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes) {
  size_t size = bucket_size(bytes);
  {
    std::lock_guard lock(mutex_);
    auto& free_list = free_[size_t(current_pool_)];
    auto it = free_list.find(size);
    if (it != free_list.end()) {
      void* ptr = it->second;
      free_list.erase(it);
      track_live(ptr, size);
      return ptr;
    }
  }
  void* ptr = allocate_from_driver(size);
  std::lock_guard lock(mutex_);
  reserved_ += size;
  track_live(ptr, size);
  return ptr;
}

void CachingAllocator::track_live(void* ptr, size_t size) {
  live_[ptr] = {size, current_pool_};
  allocated_ += size;
  peak_ = std::max(peak_, allocated_);
}

void* CachingAllocator::allocate_from_driver(size_t size) {
  void* ptr = nullptr;
  cudaError_t error = cudaMalloc(&ptr, size);
  if (error == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clear the sticky-free allocation error before retrying
    std::lock_guard lock(mutex_);
    release_cached_blocks();
    error = cudaMalloc(&ptr, size);
  }
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    fail(current_op(), std::string("CUDA error: ") + cudaGetErrorString(error) + " allocating " +
                           std::to_string(size) + " bytes");
  }
  return ptr;
}

void CachingAllocator::release_cached_blocks() {
  // Blocks may still be read by queued kernels only until the stream drains.
  if (cudaStreamSynchronize(stream()) == cudaSuccess) count_device_sync();
  for (auto& free_list : free_) {
    for (auto& [size, ptr] : free_list) {
      cudaFree(ptr);
      reserved_ -= size;
    }
    free_list.clear();
  }
}

void CachingAllocator::release(void* ptr, size_t) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return;
  int pool = retired_[size_t(it->second.pool)] ? 0 : it->second.pool;
  free_[size_t(pool)].emplace(it->second.bytes, ptr);
  allocated_ -= it->second.bytes;
  live_.erase(it);
}

void CachingAllocator::copy_to_device(void* dst, const void* src, size_t bytes) {
  // From pageable memory this returns once the source is staged, so the caller may free it.
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync(host to device)");
}

void CachingAllocator::copy_to_host(void* dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync(device to host)");
  synchronize_stream();
}

int CachingAllocator::create_pool() {
  std::lock_guard lock(mutex_);
  free_.emplace_back();
  retired_.push_back(false);
  return int(free_.size()) - 1;
}

void CachingAllocator::set_current_pool(int pool) {
  std::lock_guard lock(mutex_);
  current_pool_ = pool;
}

void CachingAllocator::retire_pool(int pool) {
  std::lock_guard lock(mutex_);
  retired_[size_t(pool)] = true;
  free_[0].merge(free_[size_t(pool)]);
  if (current_pool_ == pool) current_pool_ = 0;
}

size_t CachingAllocator::allocated_bytes() {
  std::lock_guard lock(mutex_);
  return allocated_;
}

size_t CachingAllocator::peak_allocated_bytes() {
  std::lock_guard lock(mutex_);
  return peak_;
}

size_t CachingAllocator::reserved_bytes() {
  std::lock_guard lock(mutex_);
  return reserved_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  peak_ = allocated_;
}

CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();  // outlives every Buffer
  return *instance;
}

}  // namespace tessera::cuda
