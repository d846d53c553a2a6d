#include "models/kv_cache.h"

#include <algorithm>

#include "tessera/error.h"
#include "tessera/ops.h"

namespace tessera {

// Growth only happens before a rotating cache wraps, so the kept slots are in order.
void LayerCache::reserve(const Array& like, int64_t tokens) {
  if (tokens <= capacity()) return;
  int64_t wanted = (tokens + step_ - 1) / step_ * step_;
  if (max_size_) wanted = std::min(wanted, *max_size_);
  keys_.grow(like, wanted);
  values_.grow(like, wanted);
}

// Writes k/v at `slot`, wrapping around the end of a full rotating buffer.
void LayerCache::write(const Array& k, const Array& v, int64_t slot) {
  int64_t n = k.shape(2), first = std::min(n, capacity() - slot);
  keys_.write(first < n ? slice_axis(k, 2, 0, first) : k, slot);
  values_.write(first < n ? slice_axis(v, 2, 0, first) : v, slot);
  if (first < n) {
    keys_.write(slice_axis(k, 2, first, n), 0);
    values_.write(slice_axis(v, 2, first, n), 0);
  }
}

void LayerCache::reserve(int64_t tokens) {
  if (max_size_) tokens = std::min(tokens, *max_size_);
  if (tokens <= capacity()) return;
  keys_.grow(tokens);
  values_.grow(tokens);
}

Array filled_slots(int64_t capacity, const Array& position) {
  // Slot j holds a token when j <= position, i.e. j - 1 < position: one comparison, no addition.
  return less(arange(-1, capacity - 1, Dtype::int32), position);
}

CachedKeysValues LayerCache::update(const Array& k, const Array& v, const Array& position) {
  TESSERA_CHECK(k.shape(2) == 1, "kv cache", "an update at a data position takes one token, got " + to_string(k.shape()));
  TESSERA_CHECK(accepts_position_data(1), "kv cache", "a rotating cache that is full takes no data positions");
  reserve(k, offset_ + 1);
  keys_.write(k, position);
  values_.write(v, position);
  offset_ += 1;
  return {keys_.read(0, capacity()), values_.read(0, capacity()), {}};
}

CachedKeysValues LayerCache::update(const Array& k, const Array& v) {
  int64_t n = k.shape(2), end = offset_ + n;
  CachedKeysValues out;
  if (!max_size_ || end <= *max_size_) {
    // Slots are positions: append and attend to the prefix.
    reserve(k, end);
    write(k, v, offset_);
    out.keys = keys_.read(0, end);
    out.values = values_.read(0, end);
    for (int64_t p = 0; p < end; ++p) out.key_positions.push_back(p);
  } else if (n == 1 && offset_ >= *max_size_) {
    // Decoding with a full rotating buffer: the new token replaces the oldest and every slot is
    // attended (order does not matter to attention; positions say who is who).
    write(k, v, offset_ % *max_size_);
    out.keys = keys_.read(0, capacity());
    out.values = values_.read(0, capacity());
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
    out.keys = concatenate({keys_.gather(order), k}, 2);
    out.values = concatenate({values_.gather(order), v}, 2);
    int64_t stored = std::min(n, *max_size_);
    write(slice_axis(k, 2, n - stored, n), slice_axis(v, 2, n - stored, n), (end - stored) % *max_size_);
  }
  offset_ = end;
  return out;
}

}  // namespace tessera
