#pragma once
// A flat open-addressing map from 64-bit keys (BPE merge pairs, trie edges) to small values,
// sized once from the number of keys: one multiply to hash, linear probing in one array, no
// allocation per entry. Slots hold the complement of their key, so that a slot of zero bytes is
// free and fresh zeroed pages are an empty table (zeroed_array.h): key ~0 is not a valid key.
#include <algorithm>
#include <bit>
#include <cstdint>

#include "tokenizers/zeroed_array.h"

namespace tessera::tokenizers {

template <typename Value>
class U64Map {
 public:
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};

  // Room for `count` keys with the table at most 5/8 full (short probe sequences in a table
  // small enough to stay mostly in cache); insert() grows it past that.
  explicit U64Map(std::size_t count = 0) { allocate(count); }

  // Inserts or replaces.
  void insert(uint64_t key, Value value) {
    if (8 * (size_ + 1) > 5 * slots_.size()) grow();
    Slot& slot = slots_[find_slot(key)];
    if (slot.stored_key == kFree) ++size_;
    slot = Slot{~key, value};
  }

  const Value* find(uint64_t key) const {
    const Slot& slot = slots_[find_slot(key)];
    return slot.stored_key == kFree ? nullptr : &slot.value;
  }

  std::size_t size() const { return size_; }

  // Starts loading the slot of `key`: a loop over many keys hides the cache misses by
  // prefetching a few keys ahead.
  void prefetch(uint64_t key) const { __builtin_prefetch(&slots_[home_slot(key)]); }

 private:
  static constexpr uint64_t kFree = 0;  // ~kEmptyKey
  struct Slot {
    uint64_t stored_key;  // ~key
    Value value;
  };

  void allocate(std::size_t count) {
    slots_ = ZeroedArray<Slot>(std::bit_ceil(std::max<std::size_t>(16, count * 8 / 5 + 1)));
    shift_ = 64 - std::countr_zero(slots_.size());
  }

  void grow() {
    ZeroedArray<Slot> old = std::move(slots_);
    allocate(2 * size_);
    for (const Slot& slot : old) {
      if (slot.stored_key != kFree) slots_[find_slot(~slot.stored_key)] = slot;
    }
  }

  // Fibonacci hashing: the high bits of key * 2^64/phi spread consecutive ids well.
  std::size_t home_slot(uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  std::size_t find_slot(uint64_t key) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t index = home_slot(key);
    while (slots_[index].stored_key != kFree && slots_[index].stored_key != ~key) {
      index = (index + 1) & mask;
    }
    return index;
  }

  ZeroedArray<Slot> slots_;
  std::size_t size_ = 0;
  int shift_ = 0;
};

}  // namespace tessera::tokenizers
