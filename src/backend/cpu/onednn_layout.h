#pragma once
// A name for a oneDNN memory layout (data type, padded dims, blocking, extra flags): part of the
// keys under which packed weights are kept as prepared forms of their buffers
// (onednn_linear.cpp, int8_onednn.cpp).
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

#include "tessera/activation.h"

namespace tessera::cpu {

// Appends the activation (none: nothing) as an eltwise post-op, computed in float32 before the
// destination's rounding (dense Linears, onednn_linear.cpp; quantized ones, quantized_onednn.cpp).
void append_onednn_activation(dnnl::post_ops& ops, Activation activation);

std::string onednn_layout_key(const dnnl::memory::desc& md);

}  // namespace tessera::cpu
