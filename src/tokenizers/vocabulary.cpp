#include "tokenizers/vocabulary.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace tessera::tokenizers {

Vocabulary::Vocabulary(std::span<const TokenId> entries) {
  std::size_t bytes = 0;
  uint32_t max_id = 0;
  for (const auto& [token, id] : entries) {
    bytes += token.size();
    max_id = std::max(max_id, id);
  }
  // Sized once and filled through a pointer: a vector insert per token was a library call and
  // a capacity check each.
  arena_.resize(bytes + 1);  // + 1: never a null data(), even for empty tokens only
  char* arena_end = arena_.data();
  // At most 2/3 full: probes stay short, and 150k tokens fit 2^18 slots (4 MB) rather than 2^19.
  slots_ = ZeroedArray<Slot>(std::bit_ceil(std::max<std::size_t>(16, entries.size() * 3 / 2 + 1)));

  // Per distinct token, in the order of the arena.
  struct Distinct {
    Span span;
    uint32_t first_id;
    uint32_t slot;
  };
  std::vector<Distinct> distinct;
  distinct.reserve(entries.size());
  bool has_duplicates = false;

  // The slots are written at random places of a table larger than the L2 cache: hash and
  // prefetch a few entries ahead.
  constexpr std::size_t kAhead = 8;  // a power of two: the ring index is masked
  std::array<Lookup, kAhead> lookups;
  auto hash_and_prefetch = [&](std::size_t i) {
    lookups[i % kAhead] = prepare(entries[i].token);
    prefetch(lookups[i % kAhead]);
  };
  for (std::size_t i = 0; i < std::min(kAhead, entries.size()); ++i) hash_and_prefetch(i);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [token, id] = entries[i];
    const Lookup lookup = lookups[i % kAhead];
    if (i + kAhead < entries.size()) hash_and_prefetch(i + kAhead);
    const std::size_t index = probe(token, lookup);
    Slot& slot = slots_[index];
    if (slot.id_plus_one != 0) {
      slot.id_plus_one = id + 1;  // a token listed twice keeps its last id
      has_duplicates = true;
      continue;
    }
    const Span span{static_cast<uint32_t>(arena_end - arena_.data()),
                    static_cast<uint32_t>(token.size())};
    slot = Slot{lookup.head, lookup.tail, id + 1};
    if (token.size() > kMaxInlineLength) {
      slot.head |= uint64_t{span.offset} << 32;
      slot.tail = span.length;
    }
    std::memcpy(arena_end, token.data(), token.size());
    arena_end += token.size();
    distinct.push_back(Distinct{span, id, static_cast<uint32_t>(index)});
  }
  arena_.resize(static_cast<std::size_t>(arena_end - arena_.data()));  // duplicates take none
  size_ = distinct.size();

  if (size_ == 0) return;
  token_of_id_.assign(std::size_t{max_id} + 1, Span{0, kEmpty});
  for (const Distinct& token : distinct) {
    const uint32_t id = has_duplicates ? slots_[token.slot].id_plus_one - 1 : token.first_id;
    Span& holder = token_of_id_[id];
    if (holder.length == kEmpty || text_of(token.span) > text_of(holder)) holder = token.span;
  }
}

}  // namespace tessera::tokenizers
