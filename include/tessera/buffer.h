#pragma once
// A Buffer is the storage behind one or more arrays. Its bytes may live in host memory (owned,
// or a read-only region of a memory-mapped file: zero-copy weights) and/or in device memory.
// A use on the other side copies once and keeps the copy, so weights cross to the GPU once.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tessera/device.h"

namespace tessera {

// A read-only memory-mapped file; buffers that view it keep it alive.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// What a device backend provides to move bytes; registered by the backend at start-up.
struct DeviceMemory {
  virtual ~DeviceMemory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr, size_t bytes) = 0;
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
};
void register_device_memory(DeviceType type, DeviceMemory* memory);
// Counts the device backend's full synchronisations (every queued kernel finished). A buffer
// whose device bytes were last written before the current count (or only uploaded) can be written
// by no kernel still in flight: a kernel may read it before waiting on its predecessor (CUDA's
// overlapped launches, backend/cuda/overlap.cuh).
uint64_t device_sync_count();
void count_device_sync();
DeviceMemory* device_memory(DeviceType type);  // throws when that backend is absent

// Bytes held by buffers tessera allocated (mapped checkpoint regions are not counted): what
// activations cost. Peaks are since start or the last reset_peak_memory().
struct MemoryStats {
  size_t host_bytes, peak_host_bytes, device_bytes, peak_device_bytes;
};
MemoryStats memory_stats();
void reset_peak_memory();

class Buffer {
 public:
  // Uninitialised host memory, 64-byte aligned.
  static std::shared_ptr<Buffer> allocate_host(size_t bytes);
  // A view of [offset, offset+bytes) of a mapped file; read-only, no copy.
  static std::shared_ptr<Buffer> map(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes);
  // Uninitialised memory on a device.
  static std::shared_ptr<Buffer> allocate_device(Device device, size_t bytes);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  size_t size() const { return bytes_; }
  bool read_only() const { return file_ != nullptr; }
  bool on_host() const { return host_ != nullptr; }
  bool on_device() const { return device_ptr_ != nullptr; }

  // Host bytes, copied back from the device the first time if needed.
  const void* host() const;
  // Writable host bytes; invalidates any device copy. Mapped buffers refuse.
  void* mutable_host();
  // Device bytes on `device`, uploaded the first time if needed.
  const void* device(Device device) const;
  void* mutable_device(Device device);
  // device_sync_count() when mutable_device was last called (0: never): see device_sync_count.
  uint64_t device_written_at() const { return device_written_at_; }

  // A form of these bytes that a backend derived once and keeps for as long as they live and
  // are not rewritten: the CPU keeps each Linear weight reordered into oneDNN's blocked layout
  // here, so the weight is packed once, not on every call. `key` names the form (layout, and the
  // view of the bytes it was made from); `make` runs on the first request only. Writing the host
  // bytes (mutable_host) drops every form.
  using PreparedForm = std::shared_ptr<const void>;
  PreparedForm prepared(const std::string& key, const std::function<PreparedForm()>& make) const;

 private:
  Buffer() = default;
  size_t bytes_ = 0;
  mutable void* host_ = nullptr;
  bool owns_host_ = false;
  std::shared_ptr<MappedFile> file_;
  mutable void* device_ptr_ = nullptr;
  mutable Device device_{};
  uint64_t device_written_at_ = 0;
  mutable std::mutex copy_mutex_;
  mutable std::mutex prepared_mutex_;
  mutable std::vector<std::pair<std::string, PreparedForm>> prepared_;
};

}  // namespace tessera
