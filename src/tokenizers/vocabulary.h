#pragma once
// A model vocabulary (token <-> id) built once and then only read: every token's bytes live in
// one arena and the index is a flat, pre-sized open-addressing table whose slots hold short
// tokens whole, so loading a 150k-token vocabulary costs no allocation per token and a lookup
// by string_view is a hash and, for most tokens, one cache line.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizers/zeroed_array.h"

namespace tessera::tokenizers {

struct TokenId {
  std::string_view token;
  uint32_t id;
};

class Vocabulary {
 public:
  Vocabulary() = default;
  // `entries` in file order. A token listed twice keeps its last id, as a JSON object with a
  // duplicate key does; when several tokens share an id, token(id) is the greatest of them in
  // byte order, as iterating the sorted DOM object used to leave it.
  explicit Vocabulary(std::span<const TokenId> entries);

  // A token prepared for lookups: its hash, and the key a slot holding it has. Tokens of up to
  // 11 bytes (80% of a 128k BPE vocabulary) are their key: head = {length, bytes 0-6}, tail =
  // bytes 7-10, zero-padded, and their hash mixes those two words, so the bytes are read once.
  // Longer ones: hash over the bytes, head = {kLongMark, 24-bit hash tag, arena offset (in the
  // slot only)}, tail = length (in the slot only), compared in the arena when mark and tag match.
  struct Lookup {
    uint64_t hash;
    uint64_t head;
    uint32_t tail;
  };
  static Lookup prepare(std::string_view token);

  std::optional<uint32_t> find(std::string_view token) const {
    return find(token, prepare(token));
  }
  // For loops over many lookups (BPE merges at load time), which are bound by cache misses:
  // prepare ahead, prefetch() the slot a few lookups before find() reaches it. These and token()
  // are defined below, inline: loading Llama 3's merges calls them ~600k times each.
  void prefetch(const Lookup& lookup) const;
  std::optional<uint32_t> find(std::string_view token, const Lookup& lookup) const;

  std::optional<std::string_view> token(uint32_t id) const;
  std::size_t size() const { return size_; }  // distinct tokens

 private:
  // Where a token's bytes are in arena_; length == kEmpty marks an unused id.
  struct Span {
    uint32_t offset;
    uint32_t length;
  };
  // Slots hold short tokens whole (Lookup): a lookup is one cache line and two word compares,
  // without touching the arena.
  static constexpr std::size_t kMaxInlineLength = 11;
  static constexpr uint64_t kLongMark = 0xFF;
  struct Slot {  // a Lookup's head and tail, and an id, in 16 bytes
    uint64_t head;
    uint32_t tail;
    uint32_t id_plus_one;  // 0: a free slot, so that fresh zeroed pages are an empty table
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;  // Span::length of an unused id

  static uint64_t hash_bytes(std::string_view token);
  std::string_view text_of(const Span& span) const {
    return {arena_.data() + span.offset, span.length};
  }
  // The slot holding `token`, or the free slot where it would go.
  std::size_t probe(std::string_view token, const Lookup& lookup) const;

  std::vector<char> arena_;  // the tokens' bytes in the order they were first listed
  ZeroedArray<Slot> slots_;  // power-of-two size, at most 2/3 full
  // By id, so that token() reads neither the hash table nor, for ids listed in order, anything
  // but the next bytes of the arena: BPE loading checks its guesses of merge results this way.
  std::vector<Span> token_of_id_;
  std::size_t size_ = 0;
};

namespace vocabulary_detail {

inline uint64_t load_u32(const char* bytes) {
  uint32_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return word;
}

inline uint64_t load_u64(const char* bytes) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return word;
}

// The `count` (<= 8) bytes at `bytes` as a little-endian word, zero above them, read with loads
// no wider than the bytes: copying them into a stack word and reading that back stalls on store
// forwarding, which made this the top of the load profile.
inline uint64_t load_up_to_8(const char* bytes, std::size_t count) {
  if (count >= 8) return load_u64(bytes);
  if (count >= 4) return load_u32(bytes) | load_u32(bytes + count - 4) << (8 * (count - 4));
  if (count == 0) return 0;
  const auto byte = [bytes](std::size_t i) {
    return uint64_t{static_cast<unsigned char>(bytes[i])};
  };
  return byte(0) | byte(count / 2) << (8 * (count / 2)) | byte(count - 1) << (8 * (count - 1));
}

}  // namespace vocabulary_detail

// The hash of a token longer than kMaxInlineLength: multiply-mix rounds over 8-byte words, at
// a third of the instructions of std::hash's generic byte loop. The last partial word is read
// with loads of its own size (a byte-wise copy into a stack word stalls on store forwarding);
// the length, mixed in first, tells apart the tails that these loads make alike.
inline uint64_t Vocabulary::hash_bytes(std::string_view token) {
  using vocabulary_detail::load_u32;
  using vocabulary_detail::load_u64;
  constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
  uint64_t hash = token.size() * kMultiplier;
  const char* bytes = token.data();
  const std::size_t size = token.size();
  auto mix = [&hash](uint64_t word) {
    hash = (hash ^ word) * 0xFF51AFD7ED558CCDull;
    hash ^= hash >> 32;
  };
  std::size_t pos = 0;
  for (; pos + sizeof(uint64_t) <= size; pos += sizeof(uint64_t)) mix(load_u64(bytes + pos));
  const std::size_t left = size - pos;
  if (left > 0) {
    if (size >= sizeof(uint64_t)) {
      mix(load_u64(bytes + size - sizeof(uint64_t)));  // overlaps the last full word
    } else if (left >= sizeof(uint32_t)) {
      mix(load_u32(bytes) | load_u32(bytes + left - sizeof(uint32_t)) << 32);
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

inline Vocabulary::Lookup Vocabulary::prepare(std::string_view token) {
  using vocabulary_detail::load_up_to_8;
  const std::size_t size = token.size();
  if (size <= kMaxInlineLength) {
    const std::size_t in_head = std::min<std::size_t>(size, 7);
    const uint64_t head = size | load_up_to_8(token.data(), in_head) << 8;
    const auto tail = static_cast<uint32_t>(load_up_to_8(token.data() + in_head, size - in_head));
    // Two multiply-xorshift rounds: the table's index is the low bits, the tag the high ones.
    uint64_t hash = (head ^ (uint64_t{tail} << 32 | tail)) * 0xFF51AFD7ED558CCDull;
    hash = (hash ^ (hash >> 32)) * 0x9E3779B97F4A7C15ull;
    return Lookup{hash ^ (hash >> 29), head, tail};
  }
  const uint64_t hash = hash_bytes(token);
  return Lookup{hash, kLongMark | (hash >> 40) << 8, 0};  // 24 bits of tag
}

inline std::size_t Vocabulary::probe(std::string_view token, const Lookup& lookup) const {
  const std::size_t mask = slots_.size() - 1;
  const bool is_long = token.size() > kMaxInlineLength;
  for (std::size_t index = lookup.hash & mask;; index = (index + 1) & mask) {
    const Slot& slot = slots_[index];
    if (slot.id_plus_one == 0) return index;
    if (!is_long) {
      if (slot.head == lookup.head && slot.tail == lookup.tail) return index;
    } else if (static_cast<uint32_t>(slot.head) == static_cast<uint32_t>(lookup.head)) {
      // The mark and the tag match: compare the text in the arena.
      const Span span{static_cast<uint32_t>(slot.head >> 32), slot.tail};
      if (text_of(span) == token) return index;
    }
  }
}

inline void Vocabulary::prefetch(const Lookup& lookup) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[lookup.hash & (slots_.size() - 1)]);
}

inline std::optional<uint32_t> Vocabulary::find(std::string_view token,
                                                const Lookup& lookup) const {
  if (slots_.empty()) return std::nullopt;
  const Slot& slot = slots_[probe(token, lookup)];
  if (slot.id_plus_one == 0) return std::nullopt;
  return slot.id_plus_one - 1;
}

inline std::optional<std::string_view> Vocabulary::token(uint32_t id) const {
  if (id >= token_of_id_.size() || token_of_id_[id].length == kEmpty) return std::nullopt;
  return text_of(token_of_id_[id]);
}

}  // namespace tessera::tokenizers
