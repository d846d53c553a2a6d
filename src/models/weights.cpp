#include "models/weights.h"

#include "models/calibrated_quantize.h"
#include "tessera/buffer.h"
#include "tessera/half.h"
#include "tessera/ops.h"

namespace tessera {

Array random_weight(const Shape& shape, Dtype dtype, uint64_t seed, float stddev) {
  TESSERA_CHECK(dtype == Dtype::float32 || dtype == Dtype::float16 || dtype == Dtype::bfloat16, "weights",
                "random weights are float32, float16 or bfloat16, not " + std::string(name(dtype)));
  const int64_t n = numel(shape);
  std::shared_ptr<Buffer> buffer = Buffer::allocate_host(size_t(std::max<int64_t>(n, 1)) * itemsize(dtype));
  // The sum of four uniform 16-bit parts has mean 2 * 65535 and standard deviation 65536 / sqrt(3).
  const float scale = stddev * 1.7320508f / 65536.0f;
  const uint64_t key = (seed + 1) * 0x9e3779b97f4a7c15ull;
  auto fill = [&](auto* out, auto convert) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      uint64_t z = key + uint64_t(i) * 0xbf58476d1ce4e5b9ull;  // splitmix64's finaliser of (seed, i)
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      int32_t sum = int32_t(z & 0xffff) + int32_t((z >> 16) & 0xffff) + int32_t((z >> 32) & 0xffff) + int32_t(z >> 48);
      out[i] = convert(float(sum - 131070) * scale);
    }
  };
  void* data = buffer->mutable_host();
  if (dtype == Dtype::bfloat16)
    fill(static_cast<bfloat16*>(data), [](float v) { return to_bfloat16(v); });
  else if (dtype == Dtype::float16)
    fill(static_cast<float16*>(data), [](float v) { return to_float16(v); });
  else
    fill(static_cast<float*>(data), [](float v) { return v; });
  return Array::from_buffer(buffer, shape, dtype);
}

void check_quantization_spec(const QuantizationSpec& spec, const std::string& source) {
  TESSERA_CHECK(spec.bits == 2 || spec.bits == 4 || spec.bits == 8, "quantization",
                source + ": " + std::to_string(spec.bits) + "-bit quantization is not supported (2, 4 or 8)");
  TESSERA_CHECK(spec.group_size == 32 || spec.group_size == 64 || spec.group_size == 128, "quantization",
                source + ": quantization group size " + std::to_string(spec.group_size) +
                    " is not supported (32, 64 or 128)");
}

Weights::Weights(TensorMap tensors, std::string source, LoadOptions options)
    : tensors_(std::move(tensors)), source_(std::move(source)), options_(options) {
  if (options_.quantize) check_quantization_spec(*options_.quantize, "--quantize");
}

void Weights::set_checkpoint_quantization(const QuantizationSpec& spec) {
  check_quantization_spec(spec, source_ + "/config.json");
  checkpoint_quantization_ = spec;
}

Array Weights::keep(const std::string& key, Array converted) {
  if (!converted.evaluated()) pending_.push_back(converted);
  loaded_[key] = converted;
  return converted;
}

QuantizedWeight Weights::stored_quantized(const std::string& key, const Shape& shape) {
  const QuantizationSpec spec = *checkpoint_quantization_;
  const std::string base = key.substr(0, key.size() - std::string(".weight").size());
  const Array& packed = tensors_.at(key);
  const Shape packed_shape = {shape[0], shape[1] * spec.bits / 32};
  const Shape group_shape = {shape[0], shape[1] / spec.group_size};
  TESSERA_CHECK(shape.size() == 2 && shape[1] % spec.group_size == 0 && packed.shape() == packed_shape,
                "weights",
                source_ + ": quantized tensor " + key + " has shape " + to_string(packed.shape()) + ", but " +
                    std::to_string(spec.bits) + "-bit groups of " + std::to_string(spec.group_size) +
                    " of a " + to_string(shape) + " weight pack into " + to_string(packed_shape));
  auto parameter = [&](const char* suffix) {
    const std::string name = base + suffix;
    auto it = tensors_.find(name);
    TESSERA_CHECK(it != tensors_.end(), "weights",
                  source_ + ": quantized tensor " + key + " has no " + name + " (config.json declares " +
                      std::to_string(spec.bits) + "-bit quantization)");
    TESSERA_CHECK(it->second.shape() == group_shape && is_floating(it->second.dtype()), "weights",
                  source_ + ": tensor " + name + " is " + std::string(tessera::name(it->second.dtype())) + " " +
                      to_string(it->second.shape()) + ", expected floating-point " + to_string(group_shape));
    // float32 parameters stay float32 whatever the compute dtype: the kernels read them as
    // float32 anyway, and rounding them to bfloat16 shifts every weight of a group together (a
    // correlated error that cost all-MiniLM-L6-v2 8-bit weights in bfloat16 0.0007 of min
    // cosine, docs/benchmarks.md, "CPU speed (issue 7)", session 5).
    const Dtype dtype = it->second.dtype() == Dtype::float32 ? Dtype::float32 : options_.dtype;
    return to_device(astype(it->second, dtype), options_.device);
  };
  return {to_device(packed, options_.device), parameter(".scales"), parameter(".biases"), spec};
}

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
    tensors_[tensor_name] = random_weight(shape, synthesis_dtype_, (*synthesis_seed_)++);
    set_default_device(previous);
    key = tensor_name;
  }
  if (!key) return std::nullopt;
  Array w = tensors_.at(*key);
  if (checkpoint_quantization_ && w.dtype() == Dtype::uint32 && shape.size() == 2) {
    // A float weight stored packed (MLX quantizes embeddings too): dequantized once at load.
    QuantizedWeight q = stored_quantized(*key, shape);
    w = dequantize(q.packed, q.scales, q.biases, q.spec.group_size, q.spec.bits);
  }
  TESSERA_CHECK(w.shape() == shape, "weights",
                source_ + ": tensor " + *key + " has shape " + to_string(w.shape()) +
                    ", the config implies " + to_string(shape));
  TESSERA_CHECK(is_floating(w.dtype()), "weights",
                source_ + ": tensor " + *key + " has dtype " + std::string(name(w.dtype())) +
                    ", expected a floating-point weight");
  return keep(*key, to_device(astype(w, options_.dtype), options_.device));
}

std::variant<Array, QuantizedWeight> Weights::get_linear(const std::string& prefix, int64_t out, int64_t in) {
  const std::string name = prefix + ".weight";
  std::optional<std::string> key = resolve(name);
  const bool stored_packed = key && checkpoint_quantization_ && tensors_.at(*key).dtype() == Dtype::uint32;
  QuantizedWeight q;
  if (stored_packed) {
    q = stored_quantized(*key, {out, in});
  } else {
    Array w = get(name, {out, in});
    if (!options_.quantize || in % options_.quantize->group_size != 0) return w;
    // Only the packed form is kept: the float weight is not materialised on its own.
    if (!pending_.empty() && pending_.back().same_node(w)) pending_.pop_back();
    // Quantize the weight as the checkpoint stores it, not after rounding it to the compute
    // dtype: with --dtype bfloat16 that rounding came first, then quantize rounded the scales
    // and biases to bfloat16 too (MLX gives them the weight's dtype); float32 checkpoints now
    // keep float32 scales and biases (1/8 byte per weight more at group 64, read as float32 by
    // every kernel) and 8-bit weights lose only their own rounding (docs/benchmarks.md, "CPU
    // speed (issue 7)", session 5).
    if (std::optional<std::string> stored_key = resolve(name)) {
      const Array& stored_w = tensors_.at(*stored_key);
      if (is_floating(stored_w.dtype()) && stored_w.shape() == w.shape() && stored_w.dtype() != w.dtype() &&
          itemsize(stored_w.dtype()) > itemsize(w.dtype()))
        w = to_device(stored_w, options_.device);
    }
    q.spec = *options_.quantize;
    const LinearInputStatistics* calibration = options_.calibration.get();
    auto measured = calibration ? calibration->find(prefix) : LinearInputStatistics::const_iterator{};
    QuantizedArrays packed = calibration && measured != calibration->end()
                                 ? calibrated_quantize(w, measured->second, q.spec)
                                 : quantize(w, q.spec.group_size, q.spec.bits);
    q.packed = packed.weight;
    q.scales = packed.scales;
    q.biases = packed.biases;
  }
  q.int8_compute = options_.int8_compute && q.spec.bits == 8;
  const std::string stored = key ? *key : name;
  const std::string base = stored.substr(0, stored.size() - std::string(".weight").size());
  keep(stored, q.packed);
  keep(base + ".scales", q.scales);
  keep(base + ".biases", q.biases);
  return q;
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
