// gather_matmul: rows of x against experts picked per row from a stack of weights (the MoE
// feed-forward of a decode step without a host round trip). The quantized twin is in quantized.cpp.
#include "ops/op_utils.h"

namespace tessera {

namespace detail {

Shape gather_matmul_shape(const Array& x, const Array& indices, int64_t in, int64_t out, Activation glu,
                          const std::optional<Array>& row_weights, std::vector<Array>& inputs, const char* op) {
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
  TESSERA_CHECK(glu == Activation::none || out % 2 == 0, op,
                "a gated activation needs an even number of expert rows (gate then up), got " + std::to_string(out));
  inputs.push_back(indices);
  Shape result = row_weights ? shared : is;
  if (row_weights) {
    check_floating(*row_weights, op);
    TESSERA_CHECK(row_weights->shape() == is, op,
                  "row weights " + to_string(row_weights->shape()) + " must have the indices' shape " + to_string(is));
    inputs.push_back(astype(*row_weights, x.dtype()));
  }
  result.push_back(glu == Activation::none ? out : out / 2);
  return result;
}

}  // namespace detail

Array gather_matmul(const Array& x, const Array& w, const Array& indices, Activation glu,
                    const std::optional<Array>& row_weights) {
  const char* op = "gather_matmul";
  detail::check_floating(w, op);
  TESSERA_CHECK(w.ndim() == 3, op, "experts must be stacked [E, out, in], got " + to_string(w.shape()));
  TESSERA_CHECK(w.dtype() == x.dtype(), op,
                "x is " + std::string(name(x.dtype())) + " but the experts are " + std::string(name(w.dtype())));
  std::vector<Array> inputs = {x, w};
  Shape shape = detail::gather_matmul_shape(x, indices, w.shape(2), w.shape(1), glu, row_weights, inputs, op);
  return detail::build<GatherMatmul>(std::move(shape), x.dtype(), std::move(inputs), glu, row_weights.has_value());
}

}  // namespace tessera
