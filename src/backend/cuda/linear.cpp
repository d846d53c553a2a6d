// The dense Linear layer on CUDA. A few rows (a decode step) go to the matrix-vector kernel with
// the input norm and the whole epilogue (bias, activation, glu, residual) in one launch. Otherwise matmul's
// cuBLASLt path (bias, or bias + tanh GELU, in its epilogue) on the weight read transposed in
// place, other activations as an elementwise kernel, glu and residual as the separate ops.
// cuBLASLt keeps no per-weight state worth caching here, unlike the CPU's packed oneDNN weights.
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/runtime.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// x rows back to back (or a single row), weight rows contiguous, bias, norm weight and residual
// contiguous.
bool gemv_layout(const Linear& l, const std::vector<Array>& inputs) {
  const Array &x = inputs[0], &w = inputs[1];
  if (x.shape(-1) == 0) return false;
  int64_t rows = x.size() / x.shape(-1);
  bool x_rows = x.is_contiguous() || (rows == 1 && x.strides().back() == 1);
  return rows >= 1 && rows <= cuda::kGemvMaxRows && x_rows && w.strides()[1] == 1 &&
         (!l.has_bias || inputs[2].is_contiguous()) && (!l.has_residual || inputs.back().is_contiguous()) &&
         (!l.norm_eps || inputs[l.norm_index()].is_contiguous());
}

}  // namespace

void Linear::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  const bool epilogue = glu || has_residual || activation != Activation::none || norm_eps;
  if (epilogue && out.size() > 0 && gemv_layout(*this, inputs)) {
    cuda::OpScope scope("linear");
    const Array &x = inputs[0], &w = inputs[1];
    out.allocate();
    cuda::GemvOperands g{cuda::device_address(x), x.shape(-1), cuda::device_address(w), w.strides()[0],
                         has_bias ? cuda::device_address(inputs[2]) : nullptr, out.buffer()->mutable_device(out.device()),
                         x.size() / x.shape(-1), out.shape(-1), x.shape(-1), activation, glu,
                         has_residual ? cuda::device_address(inputs.back()) : nullptr};
    g.early_weights = cuda::settled(w);
    if (norm_eps) {
      g.norm_weight = cuda::device_address(inputs[norm_index()]);
      g.norm_eps = *norm_eps;
    }
    if (cuda::gemv(out.dtype(), g)) return;
  }
  if (glu || has_residual || norm_eps) return eval_unfused(inputs, out, true);
  std::vector<Array> matmul_inputs = {inputs[0], transposed_weight(inputs[0], inputs[1])};
  if (has_bias) matmul_inputs.push_back(inputs[2]);
  if (activation == Activation::none) return Matmul().eval_cuda(matmul_inputs, out);
  // bias + tanh-approximate GELU (gelu_new, gelu_pytorch_tanh) is exactly cuBLASLt's GELU_BIAS
  // epilogue; BERT's erf GELU is not (cuBLASLt has no erf epilogue), so it stays a vector kernel.
  if (activation == Activation::gelu_tanh && has_bias && inputs[0].shape(-1) > 0) {
    cuda::OpScope scope("linear");
    out.allocate();
    if (out.size() == 0) return;
    cuda::gemm(matmul_inputs[0], matmul_inputs[1], &matmul_inputs[2], out, true);
    return;
  }
  Array product = Array::make(out.shape(), out.dtype(), nullptr, {}, out.stream());
  Matmul().eval_cuda(matmul_inputs, product);
  Unary(activation_op(activation)).eval_cuda({product}, out);
}

}  // namespace tessera
