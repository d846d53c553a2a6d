#include "models/kv_cache.h"

#include <algorithm>

#include "tessera/ops.h"

namespace tessera {

void LayerCache::reserve(const Array& like, int64_t tokens) {
  if (tokens <= capacity_) return;
  int64_t wanted = (tokens + step_ - 1) / step_ * step_;
  if (max_size_) wanted = std::min(wanted, *max_size_);
  Shape shape = like.shape();
  shape[2] = wanted;
  Array fresh_k = zeros(shape, like.dtype()), fresh_v = zeros(shape, like.dtype());
  if (capacity_ > 0) {  // growth only happens before a rotating cache wraps: slots are in order
    fresh_k = slice_update(fresh_k, keys_, {0, 0, 0, 0});
    fresh_v = slice_update(fresh_v, values_, {0, 0, 0, 0});
  }
  keys_ = fresh_k;
  values_ = fresh_v;
  capacity_ = wanted;
}

// Writes k/v at `slot`, wrapping around the end of a full rotating buffer.
void LayerCache::write(const Array& k, const Array& v, int64_t slot) {
  int64_t n = k.shape(2), first = std::min(n, capacity_ - slot);
  keys_ = slice_update(keys_, slice_axis(k, 2, 0, first), {0, 0, slot, 0});
  values_ = slice_update(values_, slice_axis(v, 2, 0, first), {0, 0, slot, 0});
  if (first < n) {
    keys_ = slice_update(keys_, slice_axis(k, 2, first, n), {0, 0, 0, 0});
    values_ = slice_update(values_, slice_axis(v, 2, first, n), {0, 0, 0, 0});
  }
}

CachedKeysValues LayerCache::update(const Array& k, const Array& v) {
  int64_t n = k.shape(2), end = offset_ + n;
  CachedKeysValues out;
  if (!max_size_ || end <= *max_size_) {
    // Slots are positions: append and attend to the prefix.
    reserve(k, end);
    write(k, v, offset_);
    out.keys = slice_axis(keys_, 2, 0, end);
    out.values = slice_axis(values_, 2, 0, end);
    for (int64_t p = 0; p < end; ++p) out.key_positions.push_back(p);
  } else if (n == 1 && offset_ >= *max_size_) {
    // Decoding with a full rotating buffer: the new token replaces the oldest and every slot is
    // attended (order does not matter to attention; positions say who is who).
    write(k, v, offset_ % *max_size_);
    out.keys = keys_;
    out.values = values_;
    for (int64_t s = 0; s < *max_size_; ++s)  // the newest token in slot s
      out.key_positions.push_back(offset_ - (offset_ - s) % *max_size_);
  } else {
    // A chunk that wraps: the queries need the last max_size-1 cached tokens plus the whole chunk,
    // in order, before the chunk overwrites them.
    reserve(k, *max_size_);
    int64_t kept = std::min(offset_, *max_size_ - 1);
    std::vector<int32_t> slots;
    for (int64_t p = offset_ - kept; p < offset_; ++p) {
      slots.push_back(int32_t(p % *max_size_));
      out.key_positions.push_back(p);
    }
    for (int64_t p = offset_; p < end; ++p) out.key_positions.push_back(p);
    Array order(slots, {int64_t(slots.size())});
    out.keys = concatenate({take(keys_, order, 2), k}, 2);
    out.values = concatenate({take(values_, order, 2), v}, 2);
    int64_t stored = std::min(n, *max_size_);
    write(slice_axis(k, 2, n - stored, n), slice_axis(v, 2, n - stored, n), (end - stored) % *max_size_);
  }
  offset_ = end;
  return out;
}

}  // namespace tessera
