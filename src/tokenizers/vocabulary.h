#pragma once
// A model vocabulary (token <-> id) built once and then only read: every token's bytes live in
// one arena and the index is a flat, pre-sized open-addressing table, so loading a 150k-token
// vocabulary costs no allocation per token and a lookup by string_view is a hash, one slot and
// one memcmp.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

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
  explicit Vocabulary(const std::vector<TokenId>& entries);

  std::optional<uint32_t> find(std::string_view token) const { return find(token, hash(token)); }

  // For loops over many lookups (BPE merges at load time), which are bound by cache misses:
  // hash ahead, prefetch() the slot a few lookups before find() reaches it.
  static uint64_t hash(std::string_view token);
  void prefetch(uint64_t hash) const;
  std::optional<uint32_t> find(std::string_view token, uint64_t hash) const;

  std::optional<std::string_view> token(uint32_t id) const;
  std::size_t size() const { return size_; }  // distinct tokens

 private:
  // Where a token's bytes are in arena_; length == kEmpty marks a free slot or an unused id.
  struct Span {
    uint32_t offset;
    uint32_t length;
  };
  // A token and its id; `hash_tag` (high bits of the token's hash) rules out nearly every
  // mismatching slot without touching the arena.
  struct Slot : Span {
    uint32_t id;
    uint32_t hash_tag;
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  std::string_view text_of(const Span& span) const {
    return {arena_.data() + span.offset, span.length};
  }
  // The slot holding `token`, or the free slot where it would go.
  std::size_t probe(std::string_view token, uint64_t hash) const;

  std::vector<char> arena_;  // the tokens' bytes in the order they were first listed
  std::vector<Slot> slots_;  // power-of-two size, at most 2/3 full
  // By id, so that token() reads neither the hash table nor, for ids listed in order, anything
  // but the next bytes of the arena: BPE loading checks its guesses of merge results this way.
  std::vector<Span> token_of_id_;
  std::size_t size_ = 0;
};

}  // namespace tessera::tokenizers
