// Built when tessera has no CUDA backend: every primitive's eval_cuda reports it clearly.
#include "core/primitives.h"

namespace tessera {

bool cuda_available() { return false; }

#define TESSERA_NO_CUDA(NAME)                                        \
  void NAME::eval_cuda(const std::vector<Array>&, Array&) {          \
    fail(#NAME, "not supported on cuda: tessera was built without CUDA"); \
  }
TESSERA_NO_CUDA(Full)
TESSERA_NO_CUDA(Arange)
TESSERA_NO_CUDA(AsType)
TESSERA_NO_CUDA(ToDevice)
TESSERA_NO_CUDA(Reshape)
TESSERA_NO_CUDA(Concatenate)
TESSERA_NO_CUDA(SliceUpdate)
TESSERA_NO_CUDA(Unary)
TESSERA_NO_CUDA(Binary)
TESSERA_NO_CUDA(Where)
TESSERA_NO_CUDA(Reduce)
TESSERA_NO_CUDA(ArgMax)
TESSERA_NO_CUDA(Matmul)
TESSERA_NO_CUDA(Linear)
TESSERA_NO_CUDA(Softmax)
TESSERA_NO_CUDA(LayerNorm)
TESSERA_NO_CUDA(RMSNorm)
TESSERA_NO_CUDA(Rope)
TESSERA_NO_CUDA(ScaledDotProductAttention)
TESSERA_NO_CUDA(VarlenAttention)
TESSERA_NO_CUDA(EmbeddingLayerNorm)
TESSERA_NO_CUDA(Take)
TESSERA_NO_CUDA(TakeAlongAxis)
TESSERA_NO_CUDA(ArgTopK)
TESSERA_NO_CUDA(QuantizeGroupParams)
TESSERA_NO_CUDA(QuantizePack)
TESSERA_NO_CUDA(Dequantize)
TESSERA_NO_CUDA(QuantizedMatmul)
TESSERA_NO_CUDA(QuantizedMatmulInt8)
TESSERA_NO_CUDA(GatherMatmul)
TESSERA_NO_CUDA(GatherQuantizedMatmul)

}  // namespace tessera
