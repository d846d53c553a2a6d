// The dense Linear layer on CUDA: matmul's cuBLASLt path (bias, or bias + tanh GELU, in its
// epilogue) on the weight read transposed in place; other activations as an elementwise kernel.
// cuBLASLt keeps no per-weight state worth caching here, unlike the CPU's packed oneDNN weights.
#include "backend/cuda/gemm.h"
#include "backend/cuda/runtime.h"
#include "core/primitives.h"

namespace tessera {

void Linear::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  std::vector<Array> matmul_inputs = {inputs[0], transposed_weight(inputs[0], inputs[1])};
  if (inputs.size() == 3) matmul_inputs.push_back(inputs[2]);
  if (activation == Activation::none) return Matmul().eval_cuda(matmul_inputs, out);
  // bias + tanh-approximate GELU (gelu_new, gelu_pytorch_tanh) is exactly cuBLASLt's GELU_BIAS
  // epilogue; BERT's erf GELU is not (cuBLASLt has no erf epilogue), so it stays a vector kernel.
  if (activation == Activation::gelu_tanh && inputs.size() == 3 && inputs[0].shape(-1) > 0) {
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
