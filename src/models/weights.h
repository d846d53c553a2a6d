#pragma once
// A checkpoint's tensors as a model asks for them: by Hugging Face name, with the base-model
// prefix ("bert.", "roberta.") optional, shape-checked, converted once to the compute dtype and
// moved to the compute device. Weights already in the compute dtype on the CPU stay in the
// mapped file (zero-copy).
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tessera/model.h"
#include "tessera/tensor_map.h"

namespace tessera {

class Weights {
 public:
  Weights(TensorMap tensors, std::string source, LoadOptions options);

  // Names are tried as given, then with each prefix prepended, then with it stripped.
  void set_base_prefix(const std::string& prefix) { base_prefix_ = prefix; }

  // From now on a tensor that is asked for and absent is created, normal(0, 0.02) from `seed`,
  // and kept: a model built this way is random-initialised and tensors() is its checkpoint.
  void synthesise_missing(uint64_t seed) { synthesis_seed_ = seed; }
  const TensorMap& tensors() const { return tensors_; }

  Array get(const std::string& name, const Shape& shape);
  std::optional<Array> find(const std::string& name, const Shape& shape);
  bool contains(const std::string& name) const { return synthesis_seed_ || resolve(name).has_value(); }

  const LoadOptions& options() const { return options_; }
  // Materialises every converted weight now, so load time is paid once at load.
  void materialise();

 private:
  std::optional<std::string> resolve(const std::string& name) const;
  TensorMap tensors_;
  std::string source_, base_prefix_;
  LoadOptions options_;
  std::vector<Array> pending_;
  std::optional<uint64_t> synthesis_seed_;
};

}  // namespace tessera
