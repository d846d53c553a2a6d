#pragma once
// What the CPU's oneDNN paths share (onednn_linear.cpp, quantized_onednn.cpp, int8_onednn.cpp):
// one engine, the activation post-op, and a name for a memory layout (data type, padded dims,
// blocking, extra flags) that is part of the keys under which packed weights are kept as
// prepared forms of their buffers.
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

#include "tessera/activation.h"

namespace tessera::cpu {

// The process's CPU engine, made on first use.
dnnl::engine& onednn_cpu_engine();

// Appends the activation (none: nothing) as an eltwise post-op, computed in float32 before the
// destination's rounding (dense Linears, onednn_linear.cpp; quantized ones, quantized_onednn.cpp).
void append_onednn_activation(dnnl::post_ops& ops, Activation activation);

std::string onednn_layout_key(const dnnl::memory::desc& md);

}  // namespace tessera::cpu
