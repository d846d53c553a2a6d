#pragma once
// Device memory for tessera's Buffers: plain cudaMalloc (never managed memory) behind a caching
// allocator. Released blocks go to size-bucketed free lists and are reused in stream order; when
// cudaMalloc fails, every cached block is returned to the driver and the allocation retried once.
// A CUDA graph captures with a private pool so that its scratch memory is never handed to work
// outside the graph (whose data a replay would overwrite).
#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessera/buffer.h"

namespace tessera::cuda {

class CachingAllocator : public DeviceMemory {
 public:
  void* allocate(size_t bytes) override;
  void release(void* ptr, size_t bytes) override;
  void copy_to_device(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;

  // Pools: 0 is the shared one. Allocations made while a private pool is current come from and
  // return to it; retire_pool hands its blocks back to the shared pool.
  int create_pool();
  void set_current_pool(int pool);
  void retire_pool(int pool);

  // The size class a request is served from: 512-byte steps up to 1 MiB, then steps of 1/8 of
  // the power of two below (at most 12.5% slack).
  static size_t bucket_size(size_t bytes);

  size_t allocated_bytes();
  size_t peak_allocated_bytes();
  size_t reserved_bytes();
  void reset_peak();

 private:
  struct Block {
    size_t bytes;
    int pool;
  };
  void* allocate_from_driver(size_t bytes);
  void track_live(void* ptr, size_t size);  // caller holds mutex_
  void release_cached_blocks();  // caller holds mutex_

  std::mutex mutex_;
  std::unordered_map<void*, Block> live_;
  std::vector<std::multimap<size_t, void*>> free_{1};  // per pool: bucket size -> block
  std::vector<bool> retired_{false};
  int current_pool_ = 0;
  size_t allocated_ = 0, peak_ = 0, reserved_ = 0;
};

CachingAllocator& allocator();

}  // namespace tessera::cuda
