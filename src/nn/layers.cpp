#include "nn/layers.h"

#include "nn/linear_input_observer.h"

namespace tessera::nn {

Linear Linear::load(Weights& w, const std::string& prefix, int64_t in, int64_t out, bool has_bias) {
  Linear l{w.get_linear(prefix, out, in), std::nullopt, prefix};
  if (has_bias) l.bias = w.get(prefix + ".bias", {out});
  return l;
}

namespace {
// Calibration sees every Linear's input, whichever path the product takes.
void observe_input(const std::string& name, const Array& x) {
  if (LinearInputObserver* observer = current_linear_input_observer(); observer && !name.empty())
    observer->observe(name, x);
}
}  // namespace

Array Linear::operator()(const LinearInput& in) const {
  const auto* q = std::get_if<QuantizedWeight>(&weight);
  // The norm stays in the product unless an observer must see its output or int8 compute takes it.
  if (in.norm && !current_linear_input_observer() && !(q && q->int8_compute)) {
    if (q)
      return quantized_linear(in.x, q->packed, q->scales, q->biases, bias, q->spec.group_size, q->spec.bits,
                              Activation::none, false, std::nullopt, in.norm);
    return linear(in.x, std::get<Array>(weight), bias, Activation::none, false, std::nullopt, in.norm);
  }
  const Array x = in.applied();
  observe_input(name, x);
  if (q) {
    const QuantizationSpec& spec = q->spec;
    if (q->int8_compute) return quantized_matmul_int8(x, q->packed, q->scales, q->biases, bias, spec.group_size);
    return bias ? quantized_addmm(*bias, x, q->packed, q->scales, q->biases, spec.group_size, spec.bits)
                : quantized_matmul(x, q->packed, q->scales, q->biases, true, spec.group_size, spec.bits);
  }
  return linear(x, std::get<Array>(weight), bias);
}

std::optional<Activation> fusable_activation(const std::string& name) {
  if (name == "gelu") return Activation::gelu;
  if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "tanh") return Activation::tanh;
  return std::nullopt;
}

Array Linear::operator()(const Array& x, const std::string& act) const {
  std::optional<Activation> fused = fusable_activation(act);
  if (fused && std::holds_alternative<Array>(weight)) {
    observe_input(name, x);
    return linear(x, std::get<Array>(weight), bias, *fused);
  }
  // Quantized with a bias (BERT's FFN): the activation fused as well, saving a pass over the
  // [tokens, intermediate] result (the CPU's GEMM and CUDA's one-row 4-bit kernel fuse it; other
  // CUDA shapes apply it as its own pass).
  const auto* q = std::get_if<QuantizedWeight>(&weight);
  if (fused && q && !q->int8_compute && bias) {
    observe_input(name, x);
    return quantized_addmm(*bias, x, q->packed, q->scales, q->biases, q->spec.group_size, q->spec.bits, *fused);
  }
  return activation(act, (*this)(x));
}

Array Linear::plus_residual(const Array& x, const Array& residual) const {
  if (const auto* q = std::get_if<QuantizedWeight>(&weight)) {
    if (q->int8_compute) return add(residual, (*this)(x));
    observe_input(name, x);
    return quantized_linear(x, q->packed, q->scales, q->biases, bias, q->spec.group_size, q->spec.bits,
                            Activation::none, false, residual);
  }
  observe_input(name, x);
  return linear(x, std::get<Array>(weight), bias, Activation::none, false, residual);
}

Array Linear::gated(const LinearInput& in, Activation activation) const {
  if (current_linear_input_observer()) observe_input(name, in.applied());
  if (const auto* q = std::get_if<QuantizedWeight>(&weight))
    return quantized_linear(in.x, q->packed, q->scales, q->biases, bias, q->spec.group_size, q->spec.bits, activation,
                            true, std::nullopt, in.norm);
  return linear(in.x, std::get<Array>(weight), bias, activation, true, std::nullopt, in.norm);
}

namespace {
int64_t out_features(const Linear& l) {
  if (const auto* q = std::get_if<QuantizedWeight>(&l.weight)) return q->packed.shape(0);
  return std::get<Array>(l.weight).shape(0);
}
}  // namespace

std::optional<Linear> fuse_linears(const std::vector<Linear*>& parts) {
  // All dense, or all quantized alike (rows of MLP's format are independent, so packed words,
  // scales and biases concatenate like dense rows); biases all or none.
  const Linear& head = *parts.front();
  const auto* head_q = std::get_if<QuantizedWeight>(&head.weight);
  if (head_q && head_q->int8_compute) return std::nullopt;  // the CPU's int8 path packs per layer
  std::vector<Array> weights, scales, offsets, biases;
  for (const Linear* l : parts) {
    const auto* q = std::get_if<QuantizedWeight>(&l->weight);
    if ((q == nullptr) != (head_q == nullptr) || l->bias.has_value() != head.bias.has_value()) return std::nullopt;
    if (q) {
      if (q->spec.bits != head_q->spec.bits || q->spec.group_size != head_q->spec.group_size || q->int8_compute)
        return std::nullopt;
      weights.push_back(q->packed);
      scales.push_back(q->scales);
      offsets.push_back(q->biases);
    } else {
      weights.push_back(std::get<Array>(l->weight));
    }
    if (l->bias) biases.push_back(*l->bias);
  }
  Linear fused{Array(), std::nullopt, ""};
  std::vector<Array> materialise = {concatenate(weights, 0)};
  if (head_q) {
    materialise.push_back(concatenate(scales, 0));
    materialise.push_back(concatenate(offsets, 0));
  }
  if (!biases.empty()) materialise.push_back(concatenate(biases, 0));
  eval(materialise);
  if (head_q)
    fused.weight = QuantizedWeight{materialise[0], materialise[1], materialise[2], head_q->spec, false};
  else
    fused.weight = materialise[0];
  if (!biases.empty()) fused.bias = materialise.back();
  // Each part keeps views of its rows, so the weights are held once.
  int64_t row = 0;
  for (Linear* l : parts) {
    int64_t rows = out_features(*l);
    auto view = [&](const Array& a) { return slice_axis(a, 0, row, row + rows); };
    if (head_q)
      l->weight = QuantizedWeight{view(materialise[0]), view(materialise[1]), view(materialise[2]), head_q->spec, false};
    else
      l->weight = view(materialise[0]);
    if (l->bias) l->bias = view(*fused.bias);
    row += rows;
  }
  return fused;
}

std::vector<Array> fused_outputs(const std::optional<Linear>& fused, const std::vector<const Linear*>& parts,
                                 const LinearInput& x) {
  std::vector<Array> out;
  if (!fused || current_linear_input_observer()) {
    const Array applied = x.applied();  // the norm once for all parts
    for (const Linear* l : parts) out.push_back((*l)(applied));
    return out;
  }
  Array y = (*fused)(x);
  int64_t column = 0;
  for (const Linear* l : parts) {
    int64_t width = out_features(*l);
    out.push_back(slice_axis(y, -1, column, column + width));
    column += width;
  }
  return out;
}

Embedding Embedding::load(Weights& w, const std::string& name, int64_t vocab, int64_t dim) {
  return {w.get(name, {vocab, dim})};
}

LayerNorm LayerNorm::load(Weights& w, const std::string& prefix, int64_t dim, float eps) {
  return {w.get(prefix + ".weight", {dim}), w.get(prefix + ".bias", {dim}), eps};
}

namespace {
// "gelu_fast" and "gelu_pytorch_tanh" are the same tanh approximation as "gelu_new".
const char* const kActivations[] = {"gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh",
                                    "relu", "silu", "swish", "tanh", "quick_gelu"};
}  // namespace

void check_activation(const std::string& name) {
  for (const char* a : kActivations)
    if (name == a) return;
  std::string known;
  for (const char* a : kActivations) known += std::string(known.empty() ? "" : ", ") + a;
  fail("config", "unsupported hidden_act \"" + name + "\" (supported: " + known + ")");
}

Array activation(const std::string& name, const Array& x) {
  if (name == "gelu") return gelu(x);
  if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") return gelu_tanh(x);
  if (name == "relu") return relu(x);
  if (name == "silu" || name == "swish") return silu(x);
  if (name == "tanh") return tanh(x);
  if (name == "quick_gelu") return multiply(x, sigmoid(multiply(x, 1.702)));
  check_activation(name);
  return x;
}

}  // namespace tessera::nn
