#pragma once
// A name for a oneDNN memory layout (data type, padded dims, blocking, extra flags): part of the
// keys under which packed weights are kept as prepared forms of their buffers
// (onednn_linear.cpp, int8_onednn.cpp).
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

namespace tessera::cpu {

std::string onednn_layout_key(const dnnl::memory::desc& md);

}  // namespace tessera::cpu
