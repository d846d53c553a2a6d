#pragma once
// A BPE model's merges: (left id, right id) -> (rank, result id), built once at load time and
// read for every pair of adjacent symbols when encoding. One 8-byte slot per merge, holding the
// pair and the rank; the result is kept by rank in an array filled in order. Llama 3's 280k
// merges take a 4 MB table instead of the 8 MB of 16-byte {key, rank, result} slots: its load
// spent ~20% of the merge phase waiting on that table's cache lines and walking its probe
// chains, and 8 slots per cache line keep most chains within one line.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "tokenizers/u64_map.h"
#include "tokenizers/zeroed_array.h"

namespace tessera::tokenizers {

struct MergeResult {
  uint32_t rank;
  uint32_t new_id;
};

class MergeTable {
 public:
  MergeTable() : MergeTable(0) {}
  // Room for `count` merges, ranked 0 .. count - 1.
  explicit MergeTable(std::size_t count)
      : slots_(compact(count) ? std::bit_ceil(std::max<std::size_t>(16, count * 8 / 5 + 1)) : 16),
        shift_(64 - std::countr_zero(slots_.size())),
        compact_(compact(count)),
        result_of_rank_(count) {}

  // A pair listed twice keeps its last rank. `rank` < the count given at construction.
  void insert(uint32_t left, uint32_t right, uint32_t rank, uint32_t new_id) {
    result_of_rank_[rank] = new_id;
    if (!fits(left, right)) {
      wide_.insert(wide_key(left, right), MergeResult{rank, new_id});
      return;
    }
    const uint64_t pair = pair_bits(left, right);
    uint64_t& slot = slots_[find_slot(pair)];
    slot = pair << kRankBits | (uint64_t{rank} + 1);
  }

  std::optional<MergeResult> find(uint32_t left, uint32_t right) const {
    if (!fits(left, right)) {
      const MergeResult* merge = wide_.find(wide_key(left, right));
      if (merge == nullptr) return std::nullopt;
      return *merge;
    }
    const uint64_t slot = slots_[find_slot(pair_bits(left, right))];
    if (slot == kFree) return std::nullopt;
    const auto rank = static_cast<uint32_t>((slot & kRankMask) - 1);
    return MergeResult{rank, result_of_rank_[rank]};
  }

  // Starts loading the slot of a pair: the load loop inserts a few merges behind. (A pair that
  // does not fit prefetches some slot of the table, harmlessly: no branch.)
  void prefetch(uint32_t left, uint32_t right) const {
    __builtin_prefetch(slots_.begin() + home_slot(pair_bits(left, right)));
  }

 private:
  // A slot: left id (20 bits), right id (20 bits), rank + 1 (24 bits); 0 is a free slot. Pairs
  // with a larger id, and every merge of a list of 2^24 - 1 or more, go to `wide_` instead;
  // which table a pair is in depends only on the pair (and the list's size), so a pair listed
  // twice replaces itself.
  static constexpr int kIdBits = 20;
  static constexpr int kRankBits = 24;
  static constexpr uint64_t kRankMask = (uint64_t{1} << kRankBits) - 1;
  static constexpr std::size_t kRankLimit = kRankMask;  // rank + 1 must fit
  static constexpr uint64_t kFree = 0;

  // At most 5/8 full: short probe chains, and 300k merges fit 2^19 slots (4 MB). A list too
  // long for the rank field keeps 16 slots, which only prefetch() reads.
  static bool compact(std::size_t count) { return count < kRankLimit; }
  bool fits(uint32_t left, uint32_t right) const {
    return compact_ && ((left | right) >> kIdBits) == 0;
  }
  static uint64_t pair_bits(uint32_t left, uint32_t right) {
    return uint64_t{left} << kIdBits | right;
  }
  static uint64_t wide_key(uint32_t left, uint32_t right) {
    return uint64_t{left} << 32 | right;
  }
  // Fibonacci hashing: the high bits of pair * 2^64/phi spread consecutive ids well.
  std::size_t home_slot(uint64_t pair) const {
    return static_cast<std::size_t>((pair * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  // The slot holding `pair`, or the free slot where it would go.
  std::size_t find_slot(uint64_t pair) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t index = home_slot(pair);
    while (slots_[index] != kFree && slots_[index] >> kRankBits != pair) {
      index = (index + 1) & mask;
    }
    return index;
  }

  ZeroedArray<uint64_t> slots_;
  int shift_;
  bool compact_;
  std::vector<uint32_t> result_of_rank_;
  U64Map<MergeResult> wide_;
};

}  // namespace tessera::tokenizers
