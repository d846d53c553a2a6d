// The dense Linear layer on CUDA: matmul's cuBLASLt path (bias in its epilogue) on the weight
// read transposed in place, then the activation as an elementwise kernel. cuBLASLt keeps no
// per-weight state worth caching here, unlike the CPU's packed oneDNN weights.
#include "core/primitives.h"

namespace tessera {

void Linear::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  std::vector<Array> matmul_inputs = {inputs[0], transposed_weight(inputs[0], inputs[1])};
  if (inputs.size() == 3) matmul_inputs.push_back(inputs[2]);
  if (activation == Activation::none) return Matmul().eval_cuda(matmul_inputs, out);
  Array product = Array::make(out.shape(), out.dtype(), nullptr, {}, out.stream());
  Matmul().eval_cuda(matmul_inputs, product);
  Unary(activation_op(activation)).eval_cuda({product}, out);
}

}  // namespace tessera
