#pragma once
// A checkpoint's tensors by name. std::map keeps iteration (and everything written from it) in a
// deterministic order.
#include <map>
#include <string>

#include "tessera/array.h"

namespace tessera {

using TensorMap = std::map<std::string, Array>;

}  // namespace tessera
