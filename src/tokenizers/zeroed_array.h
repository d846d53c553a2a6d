#pragma once
// A fixed-size array whose elements start as all-zero bytes, for the hash tables built while
// loading a tokenizer (4-8 MB each, written at random places). The tables mark a free slot with
// zero bytes, so fresh pages from the kernel, which it clears anyway, are already a table of free
// slots: std::vector would write every slot once more before the first insert (8 MB of stores on
// Llama 3's merge table). Blocks of 2 MB and more are mapped on their own, aligned to 2 MB and
// marked for transparent huge pages: filling an 8 MB table then takes 4 page faults rather than
// 2,048, and random accesses stop missing the TLB. Where the kernel gives no huge pages the mark
// is a no-op.
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace tessera::tokenizers {

template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T>, "elements are created as zero bytes");

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(std::size_t size) : size_(size) {
    const std::size_t bytes = size * sizeof(T);
    if (bytes == 0) return;
    if (bytes < kHugePage) {
      data_ = static_cast<T*>(std::calloc(size, sizeof(T)));
      if (data_ == nullptr) throw std::bad_alloc();
      return;
    }
    // Over-map by a huge page and trim both ends, so that the block starts on a 2 MB boundary.
    mapped_bytes_ = round_up(bytes);
    void* raw = ::mmap(nullptr, mapped_bytes_ + kHugePage, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = round_up(start);
    if (aligned > start) ::munmap(raw, aligned - start);
    const std::uintptr_t end = start + mapped_bytes_ + kHugePage;
    if (end > aligned + mapped_bytes_) {
      ::munmap(reinterpret_cast<void*>(aligned + mapped_bytes_), end - aligned - mapped_bytes_);
    }
    data_ = reinterpret_cast<T*>(aligned);
    ::madvise(data_, mapped_bytes_, MADV_HUGEPAGE);
  }
  ZeroedArray(ZeroedArray&& other) noexcept { swap(other); }
  ZeroedArray& operator=(ZeroedArray&& other) noexcept {
    ZeroedArray(std::move(other)).swap(*this);
    return *this;
  }
  ~ZeroedArray() {
    if (mapped_bytes_ != 0) {
      ::munmap(data_, mapped_bytes_);
    } else {
      std::free(data_);
    }
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  static std::size_t round_up(std::size_t bytes) {
    return (bytes + kHugePage - 1) / kHugePage * kHugePage;
  }
  void swap(ZeroedArray& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(mapped_bytes_, other.mapped_bytes_);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_bytes_ = 0;  // 0: the block came from calloc
};

}  // namespace tessera::tokenizers
