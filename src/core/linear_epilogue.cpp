// Linear's and quantized_linear's prologue (input norm) and epilogues (glu, residual) as the
// separate ops would compute them: rms_norm, the product, then activation(gate) * up, then
// + residual, each rounded to the output dtype. Backends use it for the shapes their fused kernels do not take (the CPU always; CUDA
// beyond a decode step's row), so every path gives the same numbers.
#include "core/primitives.h"
#include "tessera/error.h"

namespace tessera {

namespace {

Array scratch(const Array& like, Shape shape) { return Array::make(std::move(shape), like.dtype(), nullptr, {}, like.stream()); }

// Features [first, first + count) of a contiguous [..., N] array, as a view.
Array feature_window(const Array& a, int64_t first, int64_t count) {
  Shape shape = a.shape();
  shape.back() = count;
  return Array::from_buffer(a.buffer(), a.stream(), shape, a.dtype(), a.strides(), a.offset() + first);
}

void run(Primitive&& p, const std::vector<Array>& in, Array& dst, bool cuda) {
  cuda ? p.eval_cuda(in, dst) : p.eval_cpu(in, dst);
}

Array full_width(const Array& out, int64_t n) {
  Shape full = out.shape();
  full.back() = n;
  return scratch(out, full);
}

// The product's inputs [begin, end) with x replaced by rms_norm(x, inputs[norm_index], eps) when
// there is an input norm.
std::vector<Array> product_inputs(const std::vector<Array>& inputs, size_t end, std::optional<float> norm_eps,
                                  size_t norm_index, bool cuda) {
  std::vector<Array> in(inputs.begin(), inputs.begin() + std::ptrdiff_t(end));
  if (norm_eps) {
    Array normed = scratch(inputs[0], inputs[0].shape());
    run(RMSNorm(*norm_eps, true), {inputs[0], inputs[norm_index]}, normed, cuda);
    in[0] = normed;
  }
  return in;
}

}  // namespace

void finish_linear_epilogue(const Array& product, Activation glu_activation, const Array* residual, Array& out,
                            bool cuda) {
  TESSERA_CHECK(glu_activation != Activation::none || residual, "linear", "an epilogue without glu or residual");
  Array result = product;
  if (glu_activation != Activation::none) {
    const int64_t half = out.shape(-1);
    Array activated = scratch(out, out.shape());
    run(Unary(activation_op(glu_activation)), {feature_window(product, 0, half)}, activated, cuda);
    Array gated = residual ? scratch(out, out.shape()) : out;
    run(Binary(BinaryOp::multiply), {activated, feature_window(product, half, half)}, gated, cuda);
    result = gated;
  }
  if (residual) run(Binary(BinaryOp::add), {*residual, result}, out, cuda);
}

void Linear::eval_unfused(const std::vector<Array>& inputs, Array& out, bool cuda) {
  std::vector<Array> in = product_inputs(inputs, has_bias ? 3 : 2, norm_eps, norm_index(), cuda);
  // Only the norm to separate: the rest is a plain product, run as the backend runs one.
  if (norm_eps && !glu && !has_residual) return run(Linear(activation, has_bias), in, out, cuda);
  Array product = full_width(out, inputs[1].shape(0));
  run(Linear(glu ? Activation::none : activation, has_bias), in, product, cuda);
  finish_linear_epilogue(product, glu ? activation : Activation::none, has_residual ? &inputs.back() : nullptr, out,
                         cuda);
}

void QuantizedMatmul::eval_unfused(const std::vector<Array>& inputs, Array& out, bool cuda) {
  std::vector<Array> in = product_inputs(inputs, has_bias ? 5 : 4, norm_eps, norm_index(), cuda);
  // Only the norm to separate: the rest is a plain product (maybe with an activation), run as the
  // backend runs one. (Without a norm, an activation alone comes here from CUDA's kernels that do
  // not fuse it, and is applied below.)
  if (norm_eps && !glu && !has_residual)
    return run(QuantizedMatmul(transpose, group_size, bits, has_bias, activation), in, out, cuda);
  Array product = full_width(out, glu ? 2 * out.shape(-1) : out.shape(-1));
  run(QuantizedMatmul(transpose, group_size, bits, has_bias), in, product, cuda);
  if (!glu && activation != Activation::none) {
    Array activated = has_residual ? full_width(out, out.shape(-1)) : out;
    run(Unary(activation_op(activation)), {product}, activated, cuda);
    if (!has_residual) return;
    product = activated;
  }
  finish_linear_epilogue(product, glu ? activation : Activation::none, has_residual ? &inputs.back() : nullptr, out,
                         cuda);
}

}  // namespace tessera
