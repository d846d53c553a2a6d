#include "models/registry.h"

#include "models/bert.h"
#include "models/decoder.h"
#include "tessera/checkpoint.h"
#include "tessera/safetensors.h"

namespace tessera {

namespace {
const std::vector<ArchitectureEntry>& registry() {
  static const std::vector<ArchitectureEntry> entries = [] {
    std::vector<ArchitectureEntry> all;
    for (auto& e : bert_family_architectures()) all.push_back(std::move(e));
    for (auto family : {llama_architectures, qwen_architectures, mixtral_architectures, olmoe_architectures})
      for (auto& e : family()) all.push_back(std::move(e));
    return all;
  }();
  return entries;
}
}  // namespace

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const ArchitectureEntry& e : registry()) names.push_back(e.name);
  return names;
}

namespace {
const ArchitectureEntry& architecture_of(const ModelConfig& config) {
  std::vector<std::string> archs = config.get_strings("architectures");
  TESSERA_CHECK(!archs.empty(), "load", config.source() + ": no \"architectures\" entry");
  const ArchitectureEntry* entry = nullptr;
  for (const ArchitectureEntry& e : registry())
    if (e.name == archs[0]) entry = &e;
  if (!entry) {
    std::string known;
    for (const std::string& n : supported_architectures()) known += (known.empty() ? "" : ", ") + n;
    fail("load", "unknown architecture \"" + archs[0] + "\" in " + config.source() + " (supported: " + known + ")");
  }
  return *entry;
}
}  // namespace

BuiltModel build_model(const std::string& dir, const LoadOptions& options) {
  ModelConfig config = ModelConfig::load(dir);
  const ArchitectureEntry* entry = &architecture_of(config);
  TESSERA_CHECK(is_floating(options.dtype), "load",
                "compute dtype must be float32, float16 or bfloat16, got " + std::string(name(options.dtype)));
  Weights weights(load_checkpoint(dir), dir, options);
  weights.set_base_prefix(entry->base_prefix);
  if (std::optional<ModelConfig> q = config.get_object("quantization"))
    weights.set_checkpoint_quantization({int(q->get_int("group_size")), int(q->get_int("bits"))});
  std::unique_ptr<Model> m = entry->build(config, weights);
  weights.materialise();
  m->architecture_ = entry->name;
  m->directory_ = dir;
  return {std::move(m), std::move(weights)};
}

std::unique_ptr<Model> load_model(const std::string& model, const LoadOptions& options) {
  return build_model(resolve_model_dir(model), options).model;
}

void write_random_checkpoint(const std::string& model_dir, uint64_t seed) {
  ModelConfig config = ModelConfig::load(model_dir);
  const ArchitectureEntry& entry = architecture_of(config);
  // Stored in the dtype config.json declares (transformers 4 says torch_dtype, 5 says dtype), as
  // the published checkpoint is: a bfloat16 model's file is half the size and every engine loads
  // it without a conversion. Float32 when it declares none.
  std::string declared = config.get_string("dtype", config.get_string("torch_dtype", "float32"));
  std::optional<Dtype> dtype = dtype_from_name(declared);
  if (!dtype || !is_floating(*dtype)) dtype = Dtype::float32;
  LoadOptions options;
  options.dtype = *dtype;  // the weights handed to the model are the stored ones, not converted copies
  options.fuse_projections = false;
  Weights weights({}, model_dir, options);
  weights.synthesise_missing(seed, *dtype);
  entry.build(config, weights);  // asks for every tensor the architecture has
  save_safetensors(model_dir + "/model.safetensors", weights.tensors(), {{"format", "pt"}});
}

}  // namespace tessera
