#pragma once
// A model vocabulary (token <-> id) built once and then only read: every token's bytes live in
// one arena and the index is a flat, pre-sized open-addressing table whose slots hold short
// tokens whole, so loading a 150k-token vocabulary costs no allocation per token and a lookup
// by string_view is a hash and, for most tokens, one cache line.
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tokenizers/huge_page_allocator.h"

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

  std::optional<uint32_t> find(std::string_view token) const { return find(token, hash(token)); }

  // For loops over many lookups (BPE merges at load time), which are bound by cache misses:
  // hash ahead, prefetch() the slot a few lookups before find() reaches it.
  static uint64_t hash(std::string_view token);
  void prefetch(uint64_t hash) const;
  std::optional<uint32_t> find(std::string_view token, uint64_t hash) const;

  std::optional<std::string_view> token(uint32_t id) const;
  std::size_t size() const { return size_; }  // distinct tokens

 private:
  // Where a token's bytes are in arena_; length == kEmpty marks an unused id.
  struct Span {
    uint32_t offset;
    uint32_t length;
  };
  // What a slot compares with a token. Tokens of up to 11 bytes (80% of a 128k BPE vocabulary)
  // are held whole: head = {length, bytes 0-6}, tail = bytes 7-10, zero-padded, so a lookup is
  // one cache line and two word compares, without touching the arena. Longer ones:
  // head = {kLongMark, 24-bit hash tag, arena offset}, tail = length, compared in the arena when
  // mark and tag match.
  struct Key {
    uint64_t head;
    uint32_t tail;
  };
  static constexpr std::size_t kMaxInlineLength = 11;
  static constexpr uint64_t kLongMark = 0xFF;
  struct Slot {  // a Key and an id in 16 bytes
    uint64_t head;
    uint32_t tail;
    uint32_t id;  // kEmpty: a free slot
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  static Key key_of(std::string_view token, uint64_t hash);
  std::string_view text_of(const Span& span) const {
    return {arena_.data() + span.offset, span.length};
  }
  // The slot holding `token`, or the free slot where it would go.
  std::size_t probe(std::string_view token, uint64_t hash) const;

  std::vector<char> arena_;  // the tokens' bytes in the order they were first listed
  std::vector<Slot, HugePageAllocator<Slot>> slots_;  // power-of-two size, at most 2/3 full
  // By id, so that token() reads neither the hash table nor, for ids listed in order, anything
  // but the next bytes of the arena: BPE loading checks its guesses of merge results this way.
  std::vector<Span> token_of_id_;
  std::size_t size_ = 0;
};

}  // namespace tessera::tokenizers
