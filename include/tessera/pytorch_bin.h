#pragma once
// pytorch_model.bin as written by torch.save (PyTorch >= 1.6): a zip archive holding a pickled
// state dict (<archive>/data.pkl) and one entry per tensor storage (<archive>/data/<key>).
// The pickle is read by a restricted unpickler that only knows how to rebuild tensors; it never
// executes pickle code, and refuses any other callable the file names.
#include <string>

#include "tessera/tensor_map.h"

namespace tessera {

// Tensors alias the mapped archive when their storage entry is stored uncompressed (as torch
// writes them); views with offsets and strides stay views.
TensorMap load_pytorch_bin(const std::string& path);

// A sharded checkpoint (pytorch_model.bin.index.json).
TensorMap load_pytorch_bin_index(const std::string& index_json_path);

}  // namespace tessera
