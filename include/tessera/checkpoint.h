#pragma once
// Finding and loading a model's weights, as the CLI's MODEL argument describes them.
#include <string>

#include "tessera/tensor_map.h"

namespace tessera {

// `model` is a local directory (returned as is) or a hub id ("org/name" or "name") resolved in
// the local Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
// ${XDG_CACHE_HOME:-~/.cache}/huggingface/hub, at models--org--name/snapshots/<revision>, the
// revision being refs/main when present, else the only or newest snapshot.
std::string resolve_model_dir(const std::string& model);

// The weights in `model_dir`, trying in order: model.safetensors, model.safetensors.index.json,
// pytorch_model.bin, pytorch_model.bin.index.json.
TensorMap load_checkpoint(const std::string& model_dir);

// The whole file as a string (config.json, tokenizer.json, ...); a tessera::Error if unreadable.
std::string read_text_file(const std::string& path);

}  // namespace tessera
