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

}  // namespace tessera
