// The quantized primitives have no CUDA kernels yet (the CUDA backend's own issue): each reports
// it clearly instead of falling back to the CPU inside a forward pass.
#include "core/primitives.h"

namespace tessera {

#define TESSERA_CUDA_NOT_YET(NAME)                                  \
  void NAME::eval_cuda(const std::vector<Array>&, Array&) {         \
    fail(#NAME, "not supported on cuda yet (quantized kernels are CPU-only)"); \
  }
TESSERA_CUDA_NOT_YET(QuantizeGroupParams)
TESSERA_CUDA_NOT_YET(QuantizePack)
TESSERA_CUDA_NOT_YET(Dequantize)
TESSERA_CUDA_NOT_YET(QuantizedMatmul)
TESSERA_CUDA_NOT_YET(QuantizedMatmulInt8)

}  // namespace tessera
