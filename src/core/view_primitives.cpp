// Views: the output shares the input's buffer with new strides and offset. No bytes move, so
// these run identically on every device.
#include "core/primitives.h"

namespace tessera {

void Transpose::eval_view(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  Strides strides(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) strides[i] = in.strides()[size_t(axes[i])];
  out.set_view(in.buffer(), std::move(strides), in.offset());
}

void Broadcast::eval_view(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  size_t lead = out.shape().size() - in.shape().size();
  Strides strides(out.shape().size(), 0);
  for (size_t i = 0; i < in.shape().size(); ++i)
    strides[lead + i] = in.shape()[i] == 1 ? 0 : in.strides()[i];
  out.set_view(in.buffer(), std::move(strides), in.offset());
}

void Slice::eval_view(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  Strides strides(in.strides().size());
  int64_t offset = in.offset();
  for (size_t i = 0; i < strides.size(); ++i) {
    offset += start[i] * in.strides()[i];
    strides[i] = in.strides()[i] * step[i];
  }
  out.set_view(in.buffer(), std::move(strides), offset);
}

}  // namespace tessera
