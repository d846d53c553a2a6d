#pragma once
// An allocator for the large tables built while loading a tokenizer (vocabulary and merge hash
// tables, 4-32 MB, written and read at random places): blocks of 2 MB and more are aligned to
// 2 MB and marked for transparent huge pages. With 4 KB pages, filling an 8 MB table took 2,048
// page faults and nearly every random access missed the TLB; with huge pages it takes 4 faults.
// Where the kernel gives no huge pages the marking is a no-op and the block behaves as before.
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
