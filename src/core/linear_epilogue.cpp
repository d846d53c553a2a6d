// Linear's glu and residual epilogues as the separate ops would compute them: the product, then
// activation(gate) * up, then + residual, each rounded to the output dtype. Backends use it for
// the shapes their fused kernels do not take (the CPU always; CUDA beyond a few rows), so every
// path gives the same numbers.
#include "core/primitives.h"

namespace tessera {

namespace {

Array scratch(const Array& like, Shape shape) { return Array::make(std::move(shape), like.dtype(), nullptr, {}, like.stream()); }

// Features [first, first + count) of a contiguous [..., N] array, as a view.
Array feature_window(const Array& a, int64_t first, int64_t count) {
  Shape shape = a.shape();
  shape.back() = count;
  return Array::from_buffer(a.buffer(), a.stream(), shape, a.dtype(), a.strides(), a.offset() + first);
}

}  // namespace

void Linear::eval_unfused(const std::vector<Array>& inputs, Array& out, bool cuda) {
  auto run = [cuda](Primitive&& p, const std::vector<Array>& in, Array& dst) {
    cuda ? p.eval_cuda(in, dst) : p.eval_cpu(in, dst);
  };
  std::vector<Array> product_inputs(inputs.begin(), inputs.begin() + (has_bias ? 3 : 2));
  Shape full = out.shape();
  full.back() = inputs[1].shape(0);
  Array result = scratch(out, full);
  run(Linear(glu ? Activation::none : activation, has_bias), product_inputs, result);
  if (glu) {
    const int64_t half = out.shape(-1);
    Array activated = scratch(out, out.shape());
    run(Unary(activation_op(activation)), {feature_window(result, 0, half)}, activated);
    Array gated = has_residual ? scratch(out, out.shape()) : out;
    run(Binary(BinaryOp::multiply), {activated, feature_window(result, half, half)}, gated);
    result = gated;
  }
  if (has_residual) run(Binary(BinaryOp::add), {inputs.back(), result}, out);
}

}  // namespace tessera
