#pragma once
// Keys and values of a causal LM's past tokens, per layer, kept between forward calls so each
// new token attends to the cache instead of recomputing the prefix.
//
// Buffers are preallocated [B, Hkv, capacity, D] and grown in steps; new tokens are written with
// slice_update, which reuses the buffer in place once the previous step's graph has let go of it.
// A rotating cache keeps at most `max_size` tokens (a sliding-window layer needs no more, and a
// bounded cache caps memory for long generations): token t lives in slot t % max_size. Either kind
// can hold its keys and values quantized (CacheTensor), dequantized as attention reads them.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "models/cache_tensor.h"
#include "tessera/array.h"

namespace tessera {

// What the new queries attend to after an update: keys/values [B,Hkv,Sk,D] and, per key, the
// absolute position of its token (in the order the keys are laid out). An update at a position
// given as data leaves key_positions empty: its keys are the whole buffer, and filled_slots says
// which of them hold tokens (the same mask for every layer, so callers build it once a step).
struct CachedKeysValues {
  Array keys, values;
  std::vector<int64_t> key_positions;
};

// bool [capacity]: which slots of an unrotated cache hold tokens when the newest is at `position`
// (int32 [1], data): the key mask of an update at a data position.
Array filled_slots(int64_t capacity, const Array& position);

class LayerCache {
 public:
  // max_size: nullopt keeps every token; otherwise the cache rotates over that many slots.
  explicit LayerCache(std::optional<int64_t> max_size = std::nullopt, KVQuantization quant = {},
                      int64_t step = 256)
      : max_size_(max_size), step_(step), keys_(quant), values_(quant) {}

  // Appends k, v [B,Hkv,S,D] (the tokens at positions offset()..offset()+S-1).
  CachedKeysValues update(const Array& k, const Array& v);
  // Appends one token's k, v [B,Hkv,1,D] at `position` (int32 [1], data equal to offset()): the
  // same graph then serves every later step (CUDA graph replay), each followed by advance(1).
  // Returns the whole buffer (mask it with filled_slots). Needs room: accepts_position_data(1).
  CachedKeysValues update(const Array& k, const Array& v, const Array& position);
  // Whether the next `tokens` tokens can go in at data positions: none of them would rotate.
  bool accepts_position_data(int64_t tokens) const { return !max_size_ || offset_ + tokens <= *max_size_; }
  // Room for `tokens` tokens in all (after a first update: the buffers' shape comes from it).
  void reserve(int64_t tokens);
  void advance(int64_t tokens) { offset_ += tokens; }  // a replayed step wrote one more token
  int64_t offset() const { return offset_; }  // tokens seen so far
  int64_t capacity() const { return keys_.capacity(); }
  size_t nbytes() const { return keys_.nbytes() + values_.nbytes(); }
  const CacheTensor& keys() const { return keys_; }

 private:
  void reserve(const Array& like, int64_t tokens);
  void write(const Array& k, const Array& v, int64_t slot);
  std::optional<int64_t> max_size_;
  int64_t step_, offset_ = 0;
  CacheTensor keys_, values_;
};

struct KVCache {
  std::vector<LayerCache> layers;
  int64_t offset() const { return layers.empty() ? 0 : layers.front().offset(); }
  bool accepts_position_data(int64_t tokens) const {
    for (const LayerCache& l : layers)
      if (!l.accepts_position_data(tokens)) return false;
    return true;
  }
  void reserve(int64_t tokens) {
    for (LayerCache& l : layers) l.reserve(tokens);
  }
  void advance(int64_t tokens) {
    for (LayerCache& l : layers) l.advance(tokens);
  }
  int64_t capacity() const { return layers.empty() ? 0 : layers.front().capacity(); }
  // Sequences the cache holds (1 before the first update).
  int64_t batch() const {
    return layers.empty() || !layers.front().keys().allocated() ? 1 : layers.front().keys().storage().shape(0);
  }
  size_t nbytes() const {
    size_t n = 0;
    for (const LayerCache& l : layers) n += l.nbytes();
    return n;
  }
};

}  // namespace tessera
