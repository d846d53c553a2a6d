#include "tokenizers/vocabulary.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace tessera::tokenizers {
namespace {

uint64_t load_u32(const char* bytes) {
  uint32_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return word;
}

uint64_t load_u64(const char* bytes) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return word;
}

// The `count` (<= 8) bytes at `bytes` as a little-endian word, zero above them, read with loads
// no wider than the bytes: copying them into a stack word and reading that back stalls on store
// forwarding, which made this the top of the load profile.
uint64_t load_up_to_8(const char* bytes, std::size_t count) {
  if (count >= 8) return load_u64(bytes);
  if (count >= 4) return load_u32(bytes) | load_u32(bytes + count - 4) << (8 * (count - 4));
  if (count == 0) return 0;
  const auto byte = [bytes](std::size_t i) {
    return uint64_t{static_cast<unsigned char>(bytes[i])};
  };
  return byte(0) | byte(count / 2) << (8 * (count / 2)) | byte(count - 1) << (8 * (count - 1));
}

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
  for (; pos + sizeof(uint64_t) <= size; pos += sizeof(uint64_t))
    mix(load(bytes + pos, uint64_t{}));
  const std::size_t left = size - pos;
  if (left > 0) {
    if (size >= sizeof(uint64_t)) {
      mix(load(bytes + size - sizeof(uint64_t), uint64_t{}));  // overlaps the last full word
    } else if (left >= sizeof(uint32_t)) {
      mix(load(bytes, uint32_t{}) | load(bytes + left - sizeof(uint32_t), uint32_t{}) << 32);
    } else {
      const auto byte = [&](std::size_t i) {
        return uint64_t{static_cast<unsigned char>(bytes[i])};
      };
      mix(byte(0) | byte(left / 2) << 8 | byte(left - 1) << 16);
    }
  }
  hash *= kMultiplier;
  return hash ^ (hash >> 29);
}

Vocabulary::Key Vocabulary::key_of(std::string_view token, uint64_t hash) {
  const std::size_t size = token.size();
  if (size <= kMaxInlineLength) {
    const std::size_t in_head = std::min<std::size_t>(size, 7);
    return Key{size | load_up_to_8(token.data(), in_head) << 8,
               static_cast<uint32_t>(load_up_to_8(token.data() + in_head, size - in_head))};
  }
  return Key{kLongMark | (hash >> 40) << 8, 0};  // 24 bits of tag
}

Vocabulary::Vocabulary(std::span<const TokenId> entries) {
  std::size_t bytes = 0;
  uint32_t max_id = 0;
  for (const auto& [token, id] : entries) {
    bytes += token.size();
    max_id = std::max(max_id, id);
  }
  arena_.reserve(bytes);
  // At most 2/3 full: probes stay short, and 150k tokens fit 2^18 slots (4 MB) rather than 2^19.
  slots_.assign(std::bit_ceil(std::max<std::size_t>(16, entries.size() * 3 / 2 + 1)),
                Slot{0, 0, kEmpty});

  // Per distinct token, in the order of the arena.
  std::vector<Span> spans;
  std::vector<uint32_t> first_ids;
  std::vector<uint32_t> slot_indices;
  spans.reserve(entries.size());
  first_ids.reserve(entries.size());
  slot_indices.reserve(entries.size());
  bool has_duplicates = false;

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
    const std::size_t index = probe(token, hash);
    Slot& slot = slots_[index];
    if (slot.id != kEmpty) {
      slot.id = id;  // a token listed twice keeps its last id
      has_duplicates = true;
      continue;
    }
    const Span span{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(token.size())};
    const Key key = key_of(token, hash);
    slot = Slot{key.head, key.tail, id};
    if (token.size() > kMaxInlineLength) {
      slot.head |= uint64_t{span.offset} << 32;
      slot.tail = span.length;
    }
    arena_.insert(arena_.end(), token.begin(), token.end());
    spans.push_back(span);
    first_ids.push_back(id);
    slot_indices.push_back(static_cast<uint32_t>(index));
  }
  size_ = spans.size();

  if (size_ == 0) return;
  token_of_id_.assign(std::size_t{max_id} + 1, Span{0, kEmpty});
  for (std::size_t token = 0; token < spans.size(); ++token) {
    const uint32_t id = has_duplicates ? slots_[slot_indices[token]].id : first_ids[token];
    Span& holder = token_of_id_[id];
    if (holder.length == kEmpty || text_of(spans[token]) > text_of(holder)) holder = spans[token];
  }
}

std::size_t Vocabulary::probe(std::string_view token, uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  const Key key = key_of(token, hash);
  const bool is_long = token.size() > kMaxInlineLength;
  for (std::size_t index = hash & mask;; index = (index + 1) & mask) {
    const Slot& slot = slots_[index];
    if (slot.id == kEmpty) return index;
    if (!is_long) {
      if (slot.head == key.head && slot.tail == key.tail) return index;
    } else if (static_cast<uint32_t>(slot.head) == static_cast<uint32_t>(key.head)) {
      // The mark and the tag match: compare the text in the arena.
      const Span span{static_cast<uint32_t>(slot.head >> 32), slot.tail};
      if (text_of(span) == token) return index;
    }
  }
}

void Vocabulary::prefetch(uint64_t hash) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
}

std::optional<uint32_t> Vocabulary::find(std::string_view token, uint64_t hash) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& slot = slots_[probe(token, hash)];
  if (slot.id == kEmpty) return std::nullopt;
  return slot.id;
}

std::optional<std::string_view> Vocabulary::token(uint32_t id) const {
  if (id >= token_of_id_.size() || token_of_id_[id].length == kEmpty) return std::nullopt;
  return text_of(token_of_id_[id]);
}

}  // namespace tessera::tokenizers
