#pragma once
// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
// then the raw little-endian tensor bytes. Loading maps the file and the arrays alias it: nothing
// is copied, and pages are only read when a tensor is used.
#include <map>
#include <string>

#include "tessera/tensor_map.h"

namespace tessera {

using SafetensorsMetadata = std::map<std::string, std::string>;

// One validated, memory-mapped safetensors file. The arrays keep the mapping alive, so they
// outlive this object.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  const TensorMap& tensors() const { return tensors_; }
  const SafetensorsMetadata& metadata() const { return metadata_; }

 private:
  std::string path_;
  TensorMap tensors_;
  SafetensorsMetadata metadata_;
};

TensorMap load_safetensors(const std::string& path);

// Writes every array (evaluated, made contiguous, read back to the host) in a deterministic
// layout: widest dtypes first, then by name, so every tensor is naturally aligned in the file.
// The file appears atomically: a failure leaves no partial file behind.
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const SafetensorsMetadata& metadata = {});

// A sharded checkpoint (model.safetensors.index.json): every shard named in "weight_map" is
// mapped once; the result holds the tensors of all shards.
TensorMap load_safetensors_index(const std::string& index_json_path);

}  // namespace tessera
