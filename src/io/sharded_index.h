#pragma once
// Sharded checkpoints: an index JSON whose "weight_map" names, for every tensor, the file (next
// to the index) that holds it. Shared by model.safetensors.index.json and
// pytorch_model.bin.index.json.
#include <functional>
#include <string>

#include "tessera/tensor_map.h"

namespace tessera::io {

using LoadShard = std::function<TensorMap(const std::string& shard_path)>;

// Loads every shard once and returns the tensors of all of them. Fails when a listed tensor is
// missing from its shard, when a tensor appears in two shards, or when a shard name is not a
// plain file name next to the index.
TensorMap load_sharded_checkpoint(const std::string& index_path, const std::string& where,
                                  const LoadShard& load_shard);

}  // namespace tessera::io
