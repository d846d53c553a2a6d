#include "models/rotary_embedding.h"

#include <cmath>
#include <vector>

namespace tessera {

namespace {

std::vector<float> inverse_frequencies(double base, int dims) {
  std::vector<float> f(size_t(dims / 2));
  for (int i = 0; i < dims / 2; ++i) f[size_t(i)] = float(std::pow(base, -2.0 * i / dims));
  return f;
}

// transformers' _compute_llama3_parameters: long wavelengths slowed by `factor`, short ones kept,
// the band between interpolated.
std::vector<float> llama3_frequencies(const ModelConfig& p, double base, int dims) {
  double factor = p.get_float("factor", 8.0), low = p.get_float("low_freq_factor", 1.0),
         high = p.get_float("high_freq_factor", 4.0);
  double context = double(p.get_int("original_max_position_embeddings", 8192));
  double low_wavelen = context / low, high_wavelen = context / high;
  std::vector<float> f = inverse_frequencies(base, dims);
  for (float& inv : f) {
    double wavelen = 2 * M_PI / inv;
    if (wavelen > low_wavelen) {
      inv = float(inv / factor);
    } else if (wavelen >= high_wavelen) {
      double smooth = (context / wavelen - low) / (high - low);
      inv = float((1 - smooth) * inv / factor + smooth * inv);
    }
  }
  return f;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config, int64_t head_dim) : dims_(int(head_dim)) {
  // transformers 5 writes rope_parameters; older configs have rope_theta + rope_scaling.
  std::optional<ModelConfig> params = config.has("rope_parameters") ? config.get_object("rope_parameters")
                                                                     : config.get_object("rope_scaling");
  base_ = float(params && params->has("rope_theta") ? params->get_float("rope_theta", 10000.0)
                                                    : config.get_float("rope_theta", 10000.0));
  type_ = !params ? "default" : params->has("rope_type") ? params->get_string("rope_type")
                                                          : params->get_string("type", "default");
  // Frequencies computed once here (double, rounded to float as transformers' table) instead of
  // a pow per element in every rope kernel; "dynamic" recomputes them per call.
  auto plain = [&] {
    std::vector<float> f = inverse_frequencies(base_, dims_);
    freqs_ = Array(f, {int64_t(f.size())});
  };
  if (type_ == "default") {
    plain();
    return;
  }
  factor_ = float(params->get_float("factor", 1.0));
  if (type_ == "linear") {
    scale_ = 1.0f / factor_;
    plain();
  } else if (type_ == "dynamic") {
    trained_positions_ = params->get_int("original_max_position_embeddings",
                                         config.get_int("max_position_embeddings", 2048));
  } else if (type_ == "llama3") {
    std::vector<float> f = llama3_frequencies(*params, base_, dims_);
    freqs_ = Array(f, {int64_t(f.size())});
  } else {
    fail("config", config.source() + ": rope type \"" + type_ +
                       "\" is not supported (supported: default, linear, dynamic, llama3)");
  }
}

// transformers recomputes the base from the longest position of each forward call.
std::optional<Array> RotaryEmbedding::dynamic_freqs(int64_t sequence_length) const {
  if (sequence_length <= trained_positions_) return std::nullopt;
  double grown = factor_ * double(sequence_length) / double(trained_positions_) - (factor_ - 1);
  std::vector<float> f = inverse_frequencies(base_ * std::pow(grown, double(dims_) / (dims_ - 2)), dims_);
  return Array(f, {int64_t(f.size())});
}

Array RotaryEmbedding::operator()(const Array& x, int64_t offset) const {
  std::optional<Array> freqs = type_ == "dynamic" ? dynamic_freqs(offset + x.shape(-2)) : freqs_;
  if (freqs) freqs = to_device(*freqs, x.device());
  return rope(x, dims_, false, base_, scale_, offset, freqs);
}

Array RotaryEmbedding::operator()(const Array& x, const Array& position) const {
  TESSERA_CHECK(position_as_data(), "rope", "\"dynamic\" rotary scaling needs its positions on the host");
  std::optional<Array> freqs = freqs_;
  if (freqs) freqs = to_device(*freqs, x.device());
  return rope(x, dims_, false, base_, scale_, position, freqs);
}

}  // namespace tessera
