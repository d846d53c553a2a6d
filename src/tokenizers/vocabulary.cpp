#include "tokenizers/vocabulary.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace tessera::tokenizers {
namespace {

uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

}  // namespace

// A short-string hash: tokens average ~7 bytes, so one or two multiply-mix rounds over 8-byte
// words do, at a third of the instructions of std::hash's generic byte loop. The last partial
// word is read with loads of its own size (a byte-wise copy into a stack word stalls on store
// forwarding, which made this hash the top of the load profile); the length, mixed in first,
// tells apart the tails that these loads make alike.
uint64_t Vocabulary::hash(std::string_view token) {
  constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
  uint64_t hash = token.size() * kMultiplier;
  const char* bytes = token.data();
  const std::size_t size = token.size();
  auto mix = [&hash](uint64_t word) {
    hash = (hash ^ word) * 0xFF51AFD7ED558CCDull;
    hash ^= hash >> 32;
  };
  auto load = [](const char* from, auto word) {
    std::memcpy(&word, from, sizeof(word));
    return static_cast<uint64_t>(word);
  };
  std::size_t pos = 0;
  for (; pos + sizeof(uint64_t) <= size; pos += sizeof(uint64_t)) mix(load(bytes + pos, uint64_t{}));
  const std::size_t left = size - pos;
  if (left > 0) {
    if (size >= sizeof(uint64_t)) {
      mix(load(bytes + size - sizeof(uint64_t), uint64_t{}));  // overlaps the last full word
    } else if (left >= sizeof(uint32_t)) {
      mix(load(bytes, uint32_t{}) | load(bytes + left - sizeof(uint32_t), uint32_t{}) << 32);
    } else {
      const auto byte = [&](std::size_t i) { return uint64_t{static_cast<unsigned char>(bytes[i])}; };
      mix(byte(0) | byte(left / 2) << 8 | byte(left - 1) << 16);
    }
  }
  hash *= kMultiplier;
  return hash ^ (hash >> 29);
}

Vocabulary::Vocabulary(const std::vector<TokenId>& entries) {
  std::size_t bytes = 0;
  uint32_t max_id = 0;
  for (const auto& [token, id] : entries) {
    bytes += token.size();
    max_id = std::max(max_id, id);
  }
  arena_.reserve(bytes);
  // At most 2/3 full: with the hash tags, probes stay short, and 150k tokens fit 2^18 slots
  // (4 MB) rather than 2^19.
  slots_.assign(std::bit_ceil(std::max<std::size_t>(16, entries.size() * 3 / 2 + 1)),
                Slot{0, kEmpty, 0, 0});

  // The slots are written at random places of a table larger than the L2 cache: hash and
  // prefetch a few entries ahead.
  constexpr std::size_t kAhead = 8;  // a power of two: the ring index is masked
  std::array<uint64_t, kAhead> hashes;
  auto hash_and_prefetch = [&](std::size_t i) {
    hashes[i % kAhead] = Vocabulary::hash(entries[i].token);
    prefetch(hashes[i % kAhead]);
  };
  for (std::size_t i = 0; i < std::min(kAhead, entries.size()); ++i) hash_and_prefetch(i);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [token, id] = entries[i];
    const uint64_t hash = hashes[i % kAhead];
    if (i + kAhead < entries.size()) hash_and_prefetch(i + kAhead);
    Slot& slot = slots_[probe(token, hash)];
    if (slot.length == kEmpty) {
      slot = Slot{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(token.size()), id,
                  tag_of(hash)};
      arena_.insert(arena_.end(), token.begin(), token.end());
      ++size_;
    } else {
      slot.id = id;
    }
  }

  if (size_ == 0) return;
  token_of_id_.assign(std::size_t{max_id} + 1, Span{0, kEmpty});
  for (const Slot& slot : slots_) {
    if (slot.length == kEmpty) continue;
    Span& holder = token_of_id_[slot.id];
    if (holder.length == kEmpty || text_of(slot) > text_of(holder)) {
      holder = Span{slot.offset, slot.length};
    }
  }
}

std::size_t Vocabulary::probe(std::string_view token, uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  const uint32_t tag = tag_of(hash);
  for (std::size_t index = hash & mask;; index = (index + 1) & mask) {
    const Slot& slot = slots_[index];
    if (slot.length == kEmpty) return index;
    if (slot.hash_tag == tag && text_of(slot) == token) return index;
  }
}

void Vocabulary::prefetch(uint64_t hash) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
}

std::optional<uint32_t> Vocabulary::find(std::string_view token, uint64_t hash) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& slot = slots_[probe(token, hash)];
  if (slot.length == kEmpty) return std::nullopt;
  return slot.id;
}

std::optional<std::string_view> Vocabulary::token(uint32_t id) const {
  if (id >= token_of_id_.size() || token_of_id_[id].length == kEmpty) return std::nullopt;
  return text_of(token_of_id_[id]);
}

}  // namespace tessera::tokenizers
