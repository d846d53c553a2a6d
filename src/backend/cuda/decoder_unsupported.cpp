// Primitives added for the decoders whose CUDA kernels are still to be written (the CUDA
// backend's work): a clear error instead of a link failure or a silent host fallback.
#include "core/primitives.h"

namespace tessera {

void SliceUpdate::eval_cuda(const std::vector<Array>&, Array&) {
  fail(name(), "not supported on cuda yet");
}

}  // namespace tessera
