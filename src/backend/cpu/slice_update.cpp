// SliceUpdate on the CPU: donate dst's buffer when possible, then copy the update into the box.
#include <algorithm>
#include <cstring>

#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

void SliceUpdate::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& dst = inputs[0];
  const Array& update = inputs[1];
  // Only a dst that is its whole buffer, row-major, can become out (no broadcast or partial view).
  bool whole_buffer = dst.is_contiguous() && dst.offset() == 0 && dst.buffer()->size() == dst.nbytes();
  if (dst.is_donatable() && whole_buffer) {
    out.set_data(dst.buffer());
  } else {
    out.allocate();
    cpu::copy_to_contiguous(dst, out.buffer()->mutable_host(), out.dtype());
  }
  int64_t box_offset = out.offset();
  for (size_t d = 0; d < start.size(); ++d) box_offset += start[d] * out.strides()[d];
  if (shift_axis >= 0) {
    int64_t room = out.shape(shift_axis) - update.shape(shift_axis);
    int64_t shift = std::clamp<int64_t>(inputs[2].to_vector<int32_t>()[0], 0, room);
    box_offset += shift * out.strides()[size_t(shift_axis)];
  }
  size_t item = itemsize(out.dtype());
  auto* base = static_cast<uint8_t*>(out.buffer()->mutable_host()) + box_offset * int64_t(item);
  const auto* src = static_cast<const uint8_t*>(update.buffer()->host()) + update.offset() * int64_t(item);
  cpu::for_each_row<2>(update.shape(), {update.strides(), out.strides()},
                       [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                         if (st[0] == 1 && st[1] == 1) {
                           std::memcpy(base + off[1] * int64_t(item), src + off[0] * int64_t(item), size_t(n) * item);
                           return;
                         }
                         for (int64_t i = 0; i < n; ++i)
                           std::memcpy(base + (off[1] + i * st[1]) * int64_t(item),
                                       src + (off[0] + i * st[0]) * int64_t(item), item);
                       });
}

}  // namespace tessera
