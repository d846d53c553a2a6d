// Byte-pair encoding: start from characters (or their bytes) and apply the learned merges,
// lowest rank first, exactly as tokenizers' Word::merge_all does.
#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <queue>

#include "tokenizers/components.h"
#include "tokenizers/models/factories.h"
#include "tokenizers/merge_table.h"
#include "tokenizers/unicode.h"
#include "tokenizers/vocab.h"
#include "tokenizers/vocabulary.h"

namespace tessera::tokenizers {
namespace {

// Each thread remembers the tokens of the words it has seen lately (as tokenizers does): words
// repeat a lot and merging is the costly part. Keyed by model instance id, not address, so a
// model allocated where a destroyed one was never sees stale entries.
struct WordCache {
  static constexpr std::size_t kCapacity = 10000;
  static constexpr std::size_t kMaxWordBytes = 256;
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<Token>, StringHash, std::equal_to<>> words;
};

std::atomic<uint64_t> next_instance_id{1};

// memcmp for the few bytes of a token, inline: a libc call per comparison cost more than the
// comparison.
bool equal_bytes(const char* bytes, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (bytes[i] != text[i]) return false;
  }
  return true;
}

class Bpe final : public Model {
 public:
  Bpe(const Json& json, const ModelSections& sections)
      : instance_id_(next_instance_id++), ids_(require_token_ids(sections, "BPE")) {
    auto optional_string = [&](const char* key) -> std::optional<std::string> {
      const auto it = json.find(key);
      if (it == json.end() || it->is_null()) return std::nullopt;
      return it->get<std::string>();
    };
    unk_token_ = optional_string("unk_token");
    prefix_ = optional_string("continuing_subword_prefix");
    suffix_ = optional_string("end_of_word_suffix");
    fuse_unk_ = optional_bool(json, "fuse_unk", false);
    byte_fallback_ = optional_bool(json, "byte_fallback", false);
    ignore_merges_ = optional_bool(json, "ignore_merges", false);
    if (!sections.merges) fail_config("missing field 'merges'");
    load_merges(*sections.merges);
  }

  std::vector<Token> tokenize(std::string_view word) const override {
    if (word.empty()) return {};
    if (ignore_merges_) {
      if (auto id = ids_.find(word)) return {Token{*id, std::string(word), {0, word.size()}}};
    }
    thread_local WordCache cache;
    if (cache.owner != instance_id_) {
      cache.words.clear();
      cache.owner = instance_id_;
    }
    if (const auto hit = cache.words.find(word); hit != cache.words.end()) return hit->second;
    std::vector<Token> tokens = merge(word);
    if (word.size() < WordCache::kMaxWordBytes && cache.words.size() < WordCache::kCapacity) {
      cache.words.emplace(word, tokens);
    }
    return tokens;
  }

  std::optional<uint32_t> token_to_id(std::string_view token) const override {
    return ids_.find(token);
  }
  std::optional<std::string> id_to_token(uint32_t id) const override {
    if (auto token = ids_.token(id)) return std::string(*token);
    return std::nullopt;
  }
  std::size_t vocab_size() const override { return ids_.size(); }

 private:
  struct Symbol {
    uint32_t id;
    int prev;
    int next;
    std::size_t length;  // bytes of the word it covers; 0 once merged into its left neighbour
  };

  std::vector<Token> merge(std::string_view word) const {
    std::vector<Symbol> symbols = initial_symbols(word);
    merge_all(symbols);
    std::vector<Token> out;
    out.reserve(symbols.size());
    std::size_t offset = 0;
    for (const Symbol& symbol : symbols) {
      if (symbol.length == 0) continue;
      out.push_back(Token{symbol.id,
                          std::string(ids_.token(symbol.id).value_or("")),
                          {offset, offset + symbol.length}});
      offset += symbol.length;
    }
    return out;
  }

  struct QueuedMerge {
    std::size_t pos;
    uint32_t rank;
    uint32_t new_id;
    bool operator>(const QueuedMerge& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };

  // A pair listed twice keeps its last rank, as the map the DOM loader filled did.
  // 300k merges make up to ~900k vocabulary lookups and 300k inserts at random places of tables
  // larger than the L2 cache, so the loop is a software pipeline: merge i is hashed and its
  // vocabulary slots prefetched kLookupAhead merges before it is looked up, and its slot of the
  // merge table kInsertAhead merges before it is inserted. One thread: on a loaded machine a
  // second one mostly waits at a barrier.
  void load_merges(std::span<const MergePair> pairs) {
    constexpr std::size_t kLookupAhead = 16;  // powers of two: ring indices are masked
    constexpr std::size_t kInsertAhead = 8;
    // Plain ids, not std::optional: the ring entry is written in parts and read whole, and an
    // optional's flag and value written apart then read as one word stalled on store forwarding.
    constexpr uint32_t kUnknown = UINT32_MAX;  // also what read_id refuses as a token id
    struct Pending {
      Vocabulary::Lookup left, right, merged;
      uint32_t merged_id;  // kUnknown unless the guess below was right
    };
    struct Resolved {
      uint32_t left, right, rank, new_id;
    };
    const std::size_t prefix_length = prefix_ ? prefix_->size() : 0;
    std::array<Pending, kLookupAhead> lookups;
    std::array<std::string, kLookupAhead> merged;  // left + right without the prefix, unguessed
    std::array<Resolved, kInsertAhead> inserts;
    merges_ = MergeTable(pairs.size());

    // Trained vocabularies number tokens in the order their merges were learned, and merges.txt
    // lists merges in that order, so a merge's result is the previous merge's result (another
    // way to split the same token: 54% of Llama 3's merges) or the next new token (the other
    // 46% of Llama 3's, all but one of Qwen2.5's). Those two ids are checked first, by comparing
    // their text, read by id, with left + right: that spares the lookup of the result at a
    // random place of the vocabulary and building the concatenation. The guessing stage runs
    // kLookupAhead merges ahead of the lookups; a result it does not know (a wrong guess) only
    // costs the lookup, and the lookups tell it the greatest result seen.
    uint32_t previous_result = kUnknown;  // of the merge before, when the guess knew it
    uint32_t next_new = 0;                // one past the greatest result known
    auto spells = [&](uint32_t id, std::string_view left, std::string_view right) {
      const std::optional<std::string_view> token = ids_.token(id);
      return token && token->size() == left.size() + right.size() &&
             equal_bytes(token->data(), left) && equal_bytes(token->data() + left.size(), right);
    };
    auto guess = [&](std::string_view left, std::string_view right) {
      if (previous_result != kUnknown && spells(previous_result, left, right)) {
        return previous_result;
      }
      return spells(next_new, left, right) ? next_new : kUnknown;
    };

    auto hash_and_prefetch = [&](std::size_t i) {
      const auto& [left, right] = pairs[i];
      const std::string_view right_part = right.substr(std::min(prefix_length, right.size()));
      Pending& pending = lookups[i % kLookupAhead];
      pending.left = Vocabulary::prepare(left);
      pending.right = Vocabulary::prepare(right);
      ids_.prefetch(pending.left);
      ids_.prefetch(pending.right);
      pending.merged_id = guess(left, right_part);
      previous_result = pending.merged_id;
      if (pending.merged_id != kUnknown) {
        next_new = std::max(next_new, pending.merged_id + 1);
        return;
      }
      std::string& text = merged[i % kLookupAhead];
      text.assign(left);
      text.append(right_part);
      pending.merged = Vocabulary::prepare(text);
      ids_.prefetch(pending.merged);
    };
    auto resolve = [&](std::size_t i) {
      const auto& [left, right] = pairs[i];
      const Pending& pending = lookups[i % kLookupAhead];
      const auto left_id = ids_.find(left, pending.left);
      const auto right_id = ids_.find(right, pending.right);
      const auto merged_id = pending.merged_id != kUnknown
                                 ? std::optional(pending.merged_id)
                                 : ids_.find(merged[i % kLookupAhead], pending.merged);
      if (!left_id || !right_id || right.size() < prefix_length || !merged_id) {
        fail_unknown_merge(pairs[i]);
      }
      next_new = std::max(next_new, *merged_id + 1);
      merges_.prefetch(*left_id, *right_id);
      inserts[i % kInsertAhead] =
          Resolved{*left_id, *right_id, static_cast<uint32_t>(i), *merged_id};
    };
    auto insert = [&](std::size_t i) {
      const Resolved& resolved = inserts[i % kInsertAhead];
      merges_.insert(resolved.left, resolved.right, resolved.rank, resolved.new_id);
    };

    const std::size_t count = pairs.size();
    // Each stage frees the ring slot that the stage after it in this body fills.
    for (std::size_t i = 0; i < count + kLookupAhead + kInsertAhead; ++i) {
      if (i >= kLookupAhead + kInsertAhead && i - kLookupAhead - kInsertAhead < count) {
        insert(i - kLookupAhead - kInsertAhead);
      }
      if (i >= kLookupAhead && i - kLookupAhead < count) resolve(i - kLookupAhead);
      if (i < count) hash_and_prefetch(i);
    }
  }

  // The error the first merge that cannot be resolved gets.
  [[noreturn]] void fail_unknown_merge(const MergePair& pair) const {
    const auto& [left, right] = pair;
    const std::size_t prefix_length = prefix_ ? prefix_->size() : 0;
    if (!ids_.find(left) || !ids_.find(right) || right.size() < prefix_length) {
      fail_config("BPE merge token '" + std::string(ids_.find(left) ? right : left) +
                  "' is not in the vocabulary");
    }
    const std::string merged = std::string(left) + std::string(right.substr(prefix_length));
    fail_config("BPE merge result '" + merged + "' is not in the vocabulary");
  }

  std::optional<MergeResult> find_merge(uint32_t left, uint32_t right) const {
    return merges_.find(left, right);
  }

  std::vector<Symbol> initial_symbols(std::string_view word) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](uint32_t id, std::size_t length) {
      const int index = static_cast<int>(symbols.size());
      symbols.push_back(Symbol{id, index - 1, index + 1, length});
    };
    std::optional<std::pair<uint32_t, std::size_t>> pending_unk;
    std::string unit;
    for (std::size_t pos = 0; pos < word.size();) {
      const std::size_t start = pos;
      pos += utf8_length(static_cast<unsigned char>(word[pos]));
      const std::size_t length = pos - start;
      unit.clear();
      if (start > 0 && prefix_) unit = *prefix_;
      unit.append(word.substr(start, length));
      if (pos == word.size() && suffix_) unit.append(*suffix_);

      if (auto id = ids_.find(unit)) {
        if (pending_unk) {
          add(pending_unk->first, pending_unk->second);
          pending_unk.reset();
        }
        add(*id, length);
        continue;
      }
      if (byte_fallback_ && add_byte_fallback(unit, add)) continue;
      if (unk_token_) {
        const auto unk_id = ids_.find(*unk_token_);
        if (!unk_id)
          fail("tokenizer", "BPE unk_token '" + *unk_token_ + "' is not in the vocabulary");
        if (pending_unk && fuse_unk_) {
          pending_unk->second += length;
        } else {
          if (pending_unk) add(pending_unk->first, pending_unk->second);
          pending_unk = std::make_pair(*unk_id, length);
        }
      }
    }
    if (pending_unk) add(pending_unk->first, pending_unk->second);
    if (!symbols.empty()) symbols.back().next = -1;
    return symbols;
  }

  // Adds one <0xXX> symbol per byte of `unit` when all of them are in the vocabulary.
  template <typename Add>
  bool add_byte_fallback(const std::string& unit, Add& add) const {
    std::vector<uint32_t> byte_ids;
    char name[8];
    for (unsigned char byte : unit) {
      std::snprintf(name, sizeof(name), "<0x%02X>", byte);
      const auto id = ids_.find(name);
      if (!id) return false;
      byte_ids.push_back(*id);
    }
    for (uint32_t id : byte_ids) add(id, 1);
    return true;
  }

  void merge_all(std::vector<Symbol>& symbols) const {
    std::priority_queue<QueuedMerge, std::vector<QueuedMerge>, std::greater<>> queue;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (auto merge = find_merge(symbols[i].id, symbols[i + 1].id)) {
        queue.push(QueuedMerge{i, merge->rank, merge->new_id});
      }
    }
    while (!queue.empty()) {
      const QueuedMerge top = queue.top();
      queue.pop();
      Symbol& current = symbols[top.pos];
      if (current.length == 0 || current.next == -1) continue;
      const auto next_pos = static_cast<std::size_t>(current.next);
      const Symbol right = symbols[next_pos];
      // Skip entries made stale by an earlier merge.
      const auto merge = find_merge(current.id, right.id);
      if (!merge || merge->new_id != top.new_id) continue;

      current.id = top.new_id;
      current.length += right.length;
      current.next = right.next;
      symbols[next_pos].length = 0;
      if (right.next > -1 && static_cast<std::size_t>(right.next) < symbols.size()) {
        symbols[static_cast<std::size_t>(right.next)].prev = static_cast<int>(top.pos);
      }
      if (current.prev >= 0) {
        const auto prev = static_cast<std::size_t>(current.prev);
        if (auto m = find_merge(symbols[prev].id, current.id)) {
          queue.push(QueuedMerge{prev, m->rank, m->new_id});
        }
      }
      if (current.next >= 0 && static_cast<std::size_t>(current.next) < symbols.size()) {
        if (auto m = find_merge(current.id, symbols[static_cast<std::size_t>(current.next)].id)) {
          queue.push(QueuedMerge{top.pos, m->rank, m->new_id});
        }
      }
    }
  }

  uint64_t instance_id_;
  Vocabulary ids_;
  MergeTable merges_;
  std::optional<std::string> unk_token_;
  std::optional<std::string> prefix_;
  std::optional<std::string> suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
};

}  // namespace

std::unique_ptr<Model> make_bpe(const Json& json, const ModelSections& sections) {
  return std::make_unique<Bpe>(json, sections);
}

}  // namespace tessera::tokenizers
