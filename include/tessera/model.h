#pragma once
// Loading a Hugging Face model directory and running its forward pass.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/array.h"

namespace tessera {

// MLX's affine quantization format (see quantize in ops.h): config.json "quantization".
struct QuantizationSpec {
  int group_size = 64;
  int bits = 4;
};

// The second moment E[x x^T] ([in * in], row-major) of each Linear layer's input over
// calibration texts, by the layer's checkpoint prefix (collect_linear_input_statistics in
// runtime/calibration.h measures it on the float model).
using LinearInputStatistics = std::map<std::string, std::vector<double>>;

struct LoadOptions {
  Device device = Device::cpu();
  Dtype dtype = Dtype::float32;  // compute dtype; weights stored otherwise are converted once
  // Quantize at load every Linear weight whose input size is a multiple of the group size (as
  // MLX's nn.quantize chooses layers); embeddings and norms stay in the compute dtype.
  std::optional<QuantizationSpec> quantize = std::nullopt;
  // With `quantize`: Linear layers found here are quantized against their calibration inputs
  // (calibrated_quantize: same format, lower output error) instead of round-to-nearest.
  std::shared_ptr<const LinearInputStatistics> calibration = nullptr;
  // 8-bit Linear layers (quantized at load or stored so) compute in integers, activations
  // quantized to int8 per token and group (quantized_matmul_int8: faster, approximate); otherwise they
  // compute exactly in floating point (quantized_matmul).
  bool int8_compute = false;
  // Dense Linear layers that read the same input (q/k/v, gate/up) run as one fused Linear. Off
  // where a model is built only to collect its weights (tessera convert, random checkpoints).
  bool fuse_projections = true;
};

struct ModelInputs {
  Array input_ids;                     // [B,S] int32 or int64
  std::optional<Array> attention_mask;  // [B,S], nonzero = real token
  std::optional<Array> token_type_ids;  // [B,S]
  // Padding tokens are not computed: the real tokens of all rows run packed, so padding costs
  // nothing. Their output rows are then zero instead of transformers' (meaningless) values
  // at padded positions. For embeddings and classification of real tokens.
  bool skip_padding = false;
};

// Output tensors named as the Hugging Face output fields (last_hidden_state, pooler_output,
// logits, start_logits, end_logits).
using ModelOutputs = std::map<std::string, Array>;

class Model {
 public:
  virtual ~Model() = default;
  virtual ModelOutputs forward(const ModelInputs& inputs) = 0;
  const std::string& architecture() const { return architecture_; }
  const std::string& directory() const { return directory_; }

 protected:
  std::string architecture_, directory_;
  friend struct BuiltModel build_model(const std::string&, const LoadOptions&);
};

// MODEL is a local directory or a hub id in the local Hugging Face cache; the class comes from
// config.json architectures[0]. Unknown architectures are refused with the supported list.
std::unique_ptr<Model> load_model(const std::string& model, const LoadOptions& options = {});
std::vector<std::string> supported_architectures();

// Writes `model` to directory `out_dir` as `options` load it (compute dtype; with
// options.quantize, Linear weights in MLX's quantized format): model.safetensors holding every
// tensor the architecture uses, config.json with "quantization", and the other files of the
// model directory (tokenizer, sentence-transformers pooling) copied.
void convert_model(const std::string& model, const std::string& out_dir, const LoadOptions& options);

// Writes a random-initialised checkpoint (normal(0, 0.02) weights from `seed`) for the config.json
// in `model_dir` as model_dir/model.safetensors, so tessera and other engines can load the
// same weights (benchmarks: latency does not depend on weight values).
void write_random_checkpoint(const std::string& model_dir, uint64_t seed);

}  // namespace tessera
