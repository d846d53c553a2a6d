#include "tokenizers/vocabulary.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tessera::tokenizers {
namespace {

uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

}  // namespace

// A short-string hash: tokens average ~7 bytes, so one or two multiply-mix rounds over 8-byte
// words do, at a third of the instructions of std::hash's generic byte loop.
uint64_t Vocabulary::hash(std::string_view token) {
  constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
  uint64_t hash = token.size() * kMultiplier;
  const char* bytes = token.data();
  std::size_t left = token.size();
  auto mix = [&hash](uint64_t word) {
    hash = (hash ^ word) * 0xFF51AFD7ED558CCDull;
    hash ^= hash >> 32;
  };
  for (; left >= sizeof(uint64_t); left -= sizeof(uint64_t), bytes += sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, bytes, sizeof(word));
    mix(word);
  }
  if (left > 0) {
    uint64_t word = 0;
    std::memcpy(&word, bytes, left);
    mix(word);
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
  slots_.assign(std::bit_ceil(std::max<std::size_t>(16, 2 * entries.size())),
                Slot{0, kEmpty, 0, 0});

  for (const auto& [token, id] : entries) {
    const uint64_t hash = Vocabulary::hash(token);
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
  slot_of_id_.assign(std::size_t{max_id} + 1, kNoSlot);
  for (uint32_t index = 0; index < slots_.size(); ++index) {
    const Slot& slot = slots_[index];
    if (slot.length == kEmpty) continue;
    uint32_t& holder = slot_of_id_[slot.id];
    if (holder == kNoSlot || text_of(slot) > text_of(slots_[holder])) holder = index;
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
  if (id >= slot_of_id_.size() || slot_of_id_[id] == kNoSlot) return std::nullopt;
  return text_of(slots_[slot_of_id_[id]]);
}

}  // namespace tessera::tokenizers
