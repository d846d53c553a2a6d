#pragma once
// One of a layer cache's two buffers (keys or values), laid out [B, Hkv, capacity, D]: stored in
// the compute dtype, or quantized along D in MLX's affine format and dequantized when read. An
// 8-bit cache at group 64 holds 8.5 bits per element instead of 16 (bfloat16) or 32, so long
// contexts and large batches fit in a quarter to a half of the memory.
#include <cstdint>

#include "tessera/array.h"

namespace tessera {

struct KVQuantization {
  int bits = 0;  // 0: keep the compute dtype; else 8, 4 or 2 (the quantize op's set)
  int group_size = 64;
};

class CacheTensor {
 public:
  explicit CacheTensor(KVQuantization quant = {}) : quant_(quant) {}

  // Resizes to `capacity` slots shaped like `like` [B,Hkv,*,D], keeping slots [0, capacity()).
  void grow(const Array& like, int64_t capacity);
  // x [B,Hkv,n,D] into slots slot..slot+n-1 (the caller splits writes that wrap).
  void write(const Array& x, int64_t slot);
  // The same at a slot given as data (int32 [1]; see slice_update), for replayed decode steps.
  void write(const Array& x, const Array& slot);
  // Resizes to `capacity` slots shaped like the current buffer (grown at least once before).
  void grow(int64_t capacity);
  bool allocated() const { return capacity_ > 0; }
  // Slots [begin, end), in the compute dtype.
  Array read(int64_t begin, int64_t end) const;
  // The slots listed in `slots` (int32 [n]), in that order, in the compute dtype.
  Array gather(const Array& slots) const;

  int64_t capacity() const { return capacity_; }
  bool quantized() const { return quant_.bits != 0; }
  size_t nbytes() const;
  // The buffer holding the cached elements (the packed words when quantized).
  const Array& storage() const { return data_; }

 private:
  KVQuantization quant_;
  int64_t capacity_ = 0;
  Array data_, scales_, biases_;  // scales/biases only when quantized
};

}  // namespace tessera
