// The dense Linear layer on the CPU: oneDNN's matmul primitive on the packed weight where it
// applies (float32, bfloat16), otherwise matmul's generic GEMM path followed by the activation.
#include <algorithm>
#include <optional>

#include "backend/cpu/onednn_linear.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// The generic path: matmul's batched GEMM (any dtype, any weight strides), then the activation
// as a separate elementwise pass, as if the layer were written with matmul and an activation.
void generic_linear(const std::vector<Array>& inputs, Activation activation, Array& out) {
  std::vector<Array> matmul_inputs = {inputs[0], transposed_weight(inputs[0], inputs[1])};
  if (inputs.size() >= 3) matmul_inputs.push_back(inputs[2]);  // the bias (eval_cpu passes no residual)
  if (activation == Activation::none) return Matmul().eval_cpu(matmul_inputs, out);
  Array product = Array::make(out.shape(), out.dtype(), nullptr, {}, out.stream());
  Matmul().eval_cpu(matmul_inputs, product);
  Unary(activation_op(activation)).eval_cpu({product}, out);
}

}  // namespace

void Linear::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  // For the CPU a pass over [M, K] or [M, N] is cheap next to the product.
  if (glu || has_residual || norm_eps) return eval_unfused(inputs, out, false);
  const Array& x = inputs[0];
  const Array& w = inputs[1];
  const int64_t k = x.shape(-1), n = out.shape(-1);
  if (out.size() == 0 || k == 0 || !cpu::onednn_linear_supports(out.dtype(), w))
    return generic_linear(inputs, activation, out);

  std::shared_ptr<Buffer> x_copy;  // x's rows must be back to back
  const void* x_data =
      static_cast<const char*>(x.buffer()->host()) + x.offset() * itemsize(x.dtype());
  if (!x.is_contiguous()) {
    x_copy = Buffer::allocate_host(x.nbytes());
    cpu::copy_to_contiguous(x, x_copy->mutable_host(), x.dtype());
    x_data = x_copy->host();
  }
  std::optional<cpu::Float32View> bias;
  if (has_bias) bias = cpu::as_float32(inputs[2]);
  out.allocate();
  if (!cpu::onednn_linear(out.dtype(), x_data, out.size() / n, k, w, bias ? bias->data : nullptr,
                          activation, out.buffer()->mutable_host()))
    generic_linear(inputs, activation, out);
}

}  // namespace tessera
