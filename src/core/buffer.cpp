#include "tessera/buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <map>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tessera/error.h"

namespace tessera {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("mmap", path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("mmap", path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = size_t(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      fail("mmap", path + ": " + std::strerror(errno));
    }
    file->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping stays valid
  return file;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

namespace {
std::array<DeviceMemory*, 2> g_device_memory{};

struct Counter {
  std::atomic<size_t> live{0}, peak{0};
  void add(size_t bytes) {
    size_t now = live.fetch_add(bytes) + bytes;
    size_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  void remove(size_t bytes) { live.fetch_sub(bytes); }
};
Counter g_host, g_device;

// Freed host blocks are kept by size and handed out again: a forward pass allocates the same
// activation sizes layer after layer and call after call, and fresh large allocations cost page
// faults and zeroing each time. Sizes are rounded up to 1/8 steps of their power of two so that
// near sizes share blocks; the cache is capped so it never holds more than kMaxCachedBytes.
class HostBlockCache {
 public:
  static size_t rounded(size_t bytes) {
    bytes = std::max<size_t>(bytes, 64);
    size_t step = std::max<size_t>(64, std::bit_floor(bytes) / 8);
    return (bytes + step - 1) / step * step;
  }
  void* take(size_t size) {
    std::lock_guard lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    cached_ -= size;
    return p;
  }
  void give(void* p, size_t size) {
    {
      std::lock_guard lock(mutex_);
      if (cached_ + size <= kMaxCachedBytes) {
        free_.emplace(size, p);
        cached_ += size;
        return;
      }
    }
    std::free(p);
  }
 private:
  static constexpr size_t kMaxCachedBytes = size_t(1) << 30;
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

// Never destroyed: buffers owned by static arrays may be freed after static destructors ran.
HostBlockCache& host_cache() {
  static HostBlockCache* cache = new HostBlockCache;
  return *cache;
}

void* aligned_host_alloc(size_t bytes) {
  size_t size = HostBlockCache::rounded(bytes);
  void* p = host_cache().take(size);
  if (!p) p = std::aligned_alloc(64, size);
  if (!p) fail("allocate", "out of host memory allocating " + std::to_string(bytes) + " bytes");
  g_host.add(bytes);
  return p;
}

void host_free(void* p, size_t bytes) {
  host_cache().give(p, HostBlockCache::rounded(bytes));
  g_host.remove(bytes);
}
}  // namespace

MemoryStats memory_stats() {
  return {g_host.live.load(), g_host.peak.load(), g_device.live.load(), g_device.peak.load()};
}

void reset_peak_memory() {
  g_host.peak.store(g_host.live.load());
  g_device.peak.store(g_device.live.load());
}

void register_device_memory(DeviceType type, DeviceMemory* memory) {
  g_device_memory[size_t(type)] = memory;
}

DeviceMemory* device_memory(DeviceType type) {
  DeviceMemory* m = g_device_memory[size_t(type)];
  if (!m) fail("device", "no backend registered for " + to_string(Device{type, 0}));
  return m;
}

std::shared_ptr<Buffer> Buffer::allocate_host(size_t bytes) {
  std::shared_ptr<Buffer> b(new Buffer());
  b->bytes_ = bytes;
  b->host_ = aligned_host_alloc(bytes);
  b->owns_host_ = true;
  return b;
}

std::shared_ptr<Buffer> Buffer::map(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes) {
  TESSERA_CHECK(offset <= file->size() && bytes <= file->size() - offset, "mmap",
                file->path() + ": region [" + std::to_string(offset) + ", +" +
                    std::to_string(bytes) + ") is outside the file");
  std::shared_ptr<Buffer> b(new Buffer());
  b->bytes_ = bytes;
  b->host_ = const_cast<uint8_t*>(file->data()) + offset;
  b->file_ = std::move(file);
  return b;
}

std::shared_ptr<Buffer> Buffer::allocate_device(Device device, size_t bytes) {
  if (device.type == DeviceType::cpu) return allocate_host(bytes);
  std::shared_ptr<Buffer> b(new Buffer());
  b->bytes_ = bytes;
  b->device_ = device;
  b->device_ptr_ = device_memory(device.type)->allocate(bytes);
  g_device.add(bytes);
  return b;
}

Buffer::~Buffer() {
  if (owns_host_) host_free(host_, bytes_);
  if (device_ptr_) {
    device_memory(device_.type)->release(device_ptr_, bytes_);
    g_device.remove(bytes_);
  }
}

const void* Buffer::host() const {
  std::lock_guard lock(copy_mutex_);
  if (!host_) {
    auto* self = const_cast<Buffer*>(this);
    self->host_ = aligned_host_alloc(bytes_);
    self->owns_host_ = true;
    device_memory(device_.type)->copy_to_host(host_, device_ptr_, bytes_);
  }
  return host_;
}

void* Buffer::mutable_host() {
  TESSERA_CHECK(!read_only(), "buffer", "cannot write into a memory-mapped checkpoint region");
  void* p = const_cast<void*>(host());
  std::lock_guard lock(copy_mutex_);
  if (device_ptr_) {  // the device copy is stale once the host side is written
    device_memory(device_.type)->release(device_ptr_, bytes_);
    g_device.remove(bytes_);
    device_ptr_ = nullptr;
  }
  std::lock_guard prepared_lock(prepared_mutex_);
  prepared_.clear();  // derived from the old bytes
  return p;
}

Buffer::PreparedForm Buffer::prepared(const std::string& key,
                                      const std::function<PreparedForm()>& make) const {
  std::lock_guard lock(prepared_mutex_);
  for (const auto& [k, form] : prepared_)
    if (k == key) return form;
  prepared_.emplace_back(key, make());
  return prepared_.back().second;
}

const void* Buffer::device(Device device) const {
  std::lock_guard lock(copy_mutex_);
  if (device_ptr_ && !(device_ == device))
    fail("buffer", "array lives on " + to_string(device_) + ", needed on " + to_string(device));
  if (!device_ptr_) {
    DeviceMemory* memory = device_memory(device.type);
    device_ptr_ = memory->allocate(bytes_);
    g_device.add(bytes_);
    device_ = device;
    memory->copy_to_device(device_ptr_, host_, bytes_);
  }
  return device_ptr_;
}

namespace {
std::atomic<uint64_t> g_device_syncs{1};
}  // namespace

uint64_t device_sync_count() { return g_device_syncs.load(std::memory_order_relaxed); }
void count_device_sync() { g_device_syncs.fetch_add(1, std::memory_order_relaxed); }

void* Buffer::mutable_device(Device device) {
  TESSERA_CHECK(!read_only(), "buffer", "cannot write into a memory-mapped checkpoint region");
  void* p = const_cast<void*>(this->device(device));
  std::lock_guard lock(copy_mutex_);
  device_written_at_ = device_sync_count();
  if (host_ && !file_) {  // the host copy is stale once the device side is written
    if (owns_host_) host_free(host_, bytes_);
    host_ = nullptr;
    owns_host_ = false;
  }
  return p;
}

}  // namespace tessera
