#pragma once
// An allocator for the large vectors filled while loading a tokenizer (the model sections, up
// to ~10 MB each, filled front to back; the hash tables use ZeroedArray): blocks of 2 MB and
// more are aligned to 2 MB and marked for transparent huge pages. With 4 KB pages, filling 8 MB
// took 2,048 page faults; with huge pages it takes 4. Where the kernel gives no huge pages the
// marking is a no-op and the block behaves as before.
#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace tessera::tokenizers {

template <typename T>
class HugePageAllocator {
 public:
  using value_type = T;
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (bytes < kHugePage) return static_cast<T*>(::operator new(bytes));
    const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* block = std::aligned_alloc(kHugePage, rounded);
    if (block == nullptr) throw std::bad_alloc();
    ::madvise(block, rounded, MADV_HUGEPAGE);
    return static_cast<T*>(block);
  }

  void deallocate(T* block, std::size_t count) {
    if (count * sizeof(T) < kHugePage) {
      ::operator delete(block);
    } else {
      std::free(block);
    }
  }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace tessera::tokenizers
