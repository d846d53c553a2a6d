#pragma once
// A checkpoint's tensors as a model asks for them: by Hugging Face name, with the base-model
// prefix ("bert.", "roberta.") optional, shape-checked, converted once to the compute dtype and
// moved to the compute device. Weights already in the compute dtype on the CPU stay in the
// mapped file (zero-copy).
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "tessera/model.h"
#include "tessera/tensor_map.h"

namespace tessera {

// A Linear weight [out, in] in MLX's affine format: packed uint32 words, scales and biases.
struct QuantizedWeight {
  Array packed, scales, biases;
  QuantizationSpec spec;
  bool int8_compute = false;  // LoadOptions::int8_compute, for an 8-bit weight
};

// bits 2, 4 or 8 and group size 32, 64 or 128, or one error naming `source`.
void check_quantization_spec(const QuantizationSpec& spec, const std::string& source);

class Weights {
 public:
  Weights(TensorMap tensors, std::string source, LoadOptions options);

  // Names are tried as given, then with each prefix prepended, then with it stripped.
  void set_base_prefix(const std::string& prefix) { base_prefix_ = prefix; }

  // From now on a tensor that is asked for and absent is created in `dtype`, about normal(0,
  // 0.02) from `seed` (random_weight), and kept: a model built this way is random-initialised
  // and tensors() is its checkpoint.
  void synthesise_missing(uint64_t seed, Dtype dtype = Dtype::float32) {
    synthesis_seed_ = seed;
    synthesis_dtype_ = dtype;
  }
  const TensorMap& tensors() const { return tensors_; }

  // The checkpoint's own quantization (config.json "quantization"): its Linear weights are
  // stored packed, and a float tensor asked for but stored packed is dequantized at load.
  void set_checkpoint_quantization(const QuantizationSpec& spec);

  Array get(const std::string& name, const Shape& shape);
  std::optional<Array> find(const std::string& name, const Shape& shape);
  // The weight of the Linear layer `prefix` ([out, in]): as the checkpoint stores it when packed,
  // quantized at load when LoadOptions::quantize asks and `in` is a multiple of the group size,
  // otherwise the float weight.
  std::variant<Array, QuantizedWeight> get_linear(const std::string& prefix, int64_t out, int64_t in);
  // Every tensor handed out so far, converted as the options ask, under its checkpoint name
  // (a quantized Linear as <prefix>.weight, .scales and .biases): what `tessera convert` writes.
  const TensorMap& loaded() const { return loaded_; }
  bool contains(const std::string& name) const { return synthesis_seed_ || resolve(name).has_value(); }

  const LoadOptions& options() const { return options_; }
  // Materialises every converted weight now, so load time is paid once at load.
  void materialise();

 private:
  std::optional<std::string> resolve(const std::string& name) const;
  // The packed tensor stored under `key` (<base>.weight) with its scales and biases, checked
  // against a float weight of `shape` and moved to the compute dtype and device.
  QuantizedWeight stored_quantized(const std::string& key, const Shape& shape);
  Array keep(const std::string& key, Array converted);
  TensorMap tensors_, loaded_;
  std::optional<QuantizationSpec> checkpoint_quantization_;
  std::string source_, base_prefix_;
  LoadOptions options_;
  std::vector<Array> pending_;
  std::optional<uint64_t> synthesis_seed_;
  Dtype synthesis_dtype_ = Dtype::float32;
};

// A host array of `shape` in `dtype` (float32, float16 or bfloat16), about normal(0, stddev):
// each value is the sum of the four 16-bit parts of a hash of (seed, index), centred and scaled
// (Irwin-Hall; tails end at 3.46 sigma). Filled in parallel straight in `dtype`, so an 8B
// model's random checkpoint takes seconds; the values depend only on seed, shape and dtype.
Array random_weight(const Shape& shape, Dtype dtype, uint64_t seed, float stddev = 0.02f);

}  // namespace tessera
