#include "models/weights.h"

#include "tessera/ops.h"

namespace tessera {

Weights::Weights(TensorMap tensors, std::string source, LoadOptions options)
    : tensors_(std::move(tensors)), source_(std::move(source)), options_(options) {}

std::optional<std::string> Weights::resolve(const std::string& name) const {
  if (tensors_.count(name)) return name;
  if (!base_prefix_.empty()) {
    if (tensors_.count(base_prefix_ + name)) return base_prefix_ + name;
    if (name.rfind(base_prefix_, 0) == 0 && tensors_.count(name.substr(base_prefix_.size())))
      return name.substr(base_prefix_.size());
  }
  return std::nullopt;
}

std::optional<Array> Weights::find(const std::string& tensor_name, const Shape& shape) {
  std::optional<std::string> key = resolve(tensor_name);
  if (!key && synthesis_seed_) {
    Device previous = default_device();
    set_default_device(Device::cpu());
    tensors_[tensor_name] = random::normal(shape, Dtype::float32, (*synthesis_seed_)++, 0.0, 0.02);
    set_default_device(previous);
    key = tensor_name;
  }
  if (!key) return std::nullopt;
  Array w = tensors_.at(*key);
  TESSERA_CHECK(w.shape() == shape, "weights",
                source_ + ": tensor " + *key + " has shape " + to_string(w.shape()) +
                    ", the config implies " + to_string(shape));
  TESSERA_CHECK(is_floating(w.dtype()), "weights",
                source_ + ": tensor " + *key + " has dtype " + std::string(name(w.dtype())) +
                    ", expected a floating-point weight");
  Array converted = to_device(astype(w, options_.dtype), options_.device);
  if (!converted.evaluated()) pending_.push_back(converted);
  return converted;
}

Array Weights::get(const std::string& tensor_name, const Shape& shape) {
  std::optional<Array> w = find(tensor_name, shape);
  if (!w) fail("weights", source_ + ": missing tensor " + tensor_name);
  return *w;
}

void Weights::materialise() {
  eval(pending_);
  pending_.clear();
}

}  // namespace tessera
