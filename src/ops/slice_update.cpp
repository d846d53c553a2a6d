#include "ops/op_utils.h"

namespace tessera {

Array slice_update(const Array& dst, const Array& update, std::vector<int64_t> start) {
  TESSERA_CHECK(update.dtype() == dst.dtype(), "slice_update",
                "update is " + std::string(name(update.dtype())) + ", dst is " + std::string(name(dst.dtype())));
  TESSERA_CHECK(update.ndim() == dst.ndim() && int(start.size()) == dst.ndim(), "slice_update",
                "update " + to_string(update.shape()) + " and start (" + std::to_string(start.size()) +
                    " entries) must match the rank of dst " + to_string(dst.shape()));
  for (int d = 0; d < dst.ndim(); ++d)
    TESSERA_CHECK(start[size_t(d)] >= 0 && start[size_t(d)] + update.shape(d) <= dst.shape(d), "slice_update",
                  "update " + to_string(update.shape()) + " at " + to_string(Shape(start)) +
                      " does not fit in " + to_string(dst.shape()));
  return detail::build<SliceUpdate>(dst.shape(), dst.dtype(), {dst, update}, std::move(start));
}

Array slice_update(const Array& dst, const Array& update, const Array& start, int axis) {
  TESSERA_CHECK(start.dtype() == Dtype::int32 && start.size() == 1, "slice_update",
                "a data start must be one int32, got " + std::string(name(start.dtype())) + " " +
                    to_string(start.shape()));
  TESSERA_CHECK(axis >= 0 && axis < dst.ndim(), "slice_update",
                "axis " + std::to_string(axis) + " out of range for " + to_string(dst.shape()));
  // Every check but the start's value; that one too when it is already on the host.
  Array checked = slice_update(dst, update, std::vector<int64_t>(size_t(dst.ndim()), 0));
  if (start.evaluated() && start.buffer()->on_host()) {
    int64_t at = astype(start, Dtype::int64).to_vector<int64_t>()[0];
    TESSERA_CHECK(at >= 0 && at + update.shape(axis) <= dst.shape(axis), "slice_update",
                  "update " + to_string(update.shape()) + " at " + std::to_string(at) + " along axis " +
                      std::to_string(axis) + " does not fit in " + to_string(dst.shape()));
  }
  return detail::build<SliceUpdate>(dst.shape(), dst.dtype(), {dst, update, reshape(start, {1})},
                                    std::vector<int64_t>(size_t(dst.ndim()), 0), axis);
}

}  // namespace tessera
