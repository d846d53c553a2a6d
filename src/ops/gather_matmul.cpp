// gather_matmul: rows of x against experts picked per row from a stack of weights (the MoE
// feed-forward of a decode step without a host round trip). The quantized twin is in quantized.cpp.
#include "ops/op_utils.h"

namespace tessera {

namespace detail {

Shape gather_matmul_shape(const Array& x, const Array& indices, int64_t in, int64_t out, const char* op) {
  check_floating(x, op);
  TESSERA_CHECK(indices.dtype() == Dtype::int32, op,
                "indices must be int32, got " + std::string(name(indices.dtype())));
  TESSERA_CHECK(indices.ndim() >= 1, op, "indices must be at least 1-d");
  TESSERA_CHECK(x.ndim() >= 1 && x.shape(-1) == in, op,
                "x " + to_string(x.shape()) + " does not align with " + std::to_string(in) +
                    " input features of the experts");
  const Shape& is = indices.shape();
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  Shape shared(is.begin(), is.end() - 1);
  TESSERA_CHECK(lead == is || lead == shared, op,
                "x " + to_string(x.shape()) + " needs leading shape " + to_string(is) + " or " +
                    to_string(shared) + " to match indices " + to_string(is));
  Shape result = is;
  result.push_back(out);
  return result;
}

}  // namespace detail

Array gather_matmul(const Array& x, const Array& w, const Array& indices) {
  const char* op = "gather_matmul";
  detail::check_floating(w, op);
  TESSERA_CHECK(w.ndim() == 3, op, "experts must be stacked [E, out, in], got " + to_string(w.shape()));
  TESSERA_CHECK(w.dtype() == x.dtype(), op,
                "x is " + std::string(name(x.dtype())) + " but the experts are " + std::string(name(w.dtype())));
  Shape shape = detail::gather_matmul_shape(x, indices, w.shape(2), w.shape(1), op);
  return detail::build<GatherMatmul>(std::move(shape), x.dtype(), {x, w, indices});
}

}  // namespace tessera
