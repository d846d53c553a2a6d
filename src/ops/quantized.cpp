// quantize, dequantize and quantized_matmul: MLX's affine format, checked eagerly.
#include "ops/op_utils.h"

namespace tessera {

using detail::build;

namespace {

void check_format(int group_size, int bits, const char* op) {
  TESSERA_CHECK(bits == 2 || bits == 4 || bits == 8, op,
                "bits must be 2, 4 or 8, got " + std::to_string(bits));
  TESSERA_CHECK(group_size == 32 || group_size == 64 || group_size == 128, op,
                "group_size must be 32, 64 or 128, got " + std::to_string(group_size));
}

// The unpacked length of a packed last axis, after checking scales and biases against it.
int64_t check_packed(const Array& w, const Array& scales, const Array& biases, int group_size,
                     int bits, const char* op) {
  check_format(group_size, bits, op);
  TESSERA_CHECK(w.dtype() == Dtype::uint32, op,
                "packed weights must be uint32, got " + std::string(name(w.dtype())));
  TESSERA_CHECK(w.ndim() >= 2, op, "packed weights must be at least 2-d, got " + to_string(w.shape()));
  detail::check_floating(scales, op);
  TESSERA_CHECK(biases.dtype() == scales.dtype(), op,
                "scales are " + std::string(name(scales.dtype())) + " but biases are " +
                    std::string(name(biases.dtype())));
  int64_t k = w.shape(-1) * 32 / bits;
  Shape groups = w.shape();
  groups.back() = k / group_size;
  TESSERA_CHECK(k % group_size == 0 && scales.shape() == groups && biases.shape() == groups, op,
                "packed weights " + to_string(w.shape()) + " with " + std::to_string(bits) +
                    " bits and group size " + std::to_string(group_size) + " need scales and biases of shape " +
                    to_string(groups) + ", got " + to_string(scales.shape()) + " and " + to_string(biases.shape()));
  return k;
}

}  // namespace

QuantizedArrays quantize(const Array& w, int group_size, int bits) {
  check_format(group_size, bits, "quantize");
  detail::check_floating(w, "quantize");
  TESSERA_CHECK(w.ndim() >= 2 && w.shape(-1) % group_size == 0, "quantize",
                "weights must be at least 2-d with a last axis divisible by the group size " +
                    std::to_string(group_size) + ", got " + to_string(w.shape()));
  Shape pair_shape = w.shape();
  pair_shape.back() = w.shape(-1) / group_size;
  Shape groups = pair_shape;
  pair_shape.push_back(2);
  Array params = build<QuantizeGroupParams>(pair_shape, Dtype::float32, {w}, group_size, bits);
  Shape packed = w.shape();
  packed.back() = w.shape(-1) * bits / 32;
  Array q = build<QuantizePack>(packed, Dtype::uint32, {w, params}, group_size, bits);
  auto column = [&](int64_t c) {
    return contiguous(astype(reshape(slice_axis(params, -1, c, c + 1), groups), w.dtype()));
  };
  return {q, column(0), column(1)};
}

Array dequantize(const Array& w, const Array& scales, const Array& biases, int group_size, int bits) {
  int64_t k = check_packed(w, scales, biases, group_size, bits, "dequantize");
  Shape shape = w.shape();
  shape.back() = k;
  return build<Dequantize>(shape, scales.dtype(), {w, scales, biases}, group_size, bits);
}

namespace {
Array quantized_matmul_impl(const Array& x, const Array& w, const Array& scales, const Array& biases,
                            bool transpose, int group_size, int bits, const std::optional<Array>& bias,
                            Activation activation = Activation::none) {
  int64_t packed_len = check_packed(w, scales, biases, group_size, bits, "quantized_matmul");
  detail::check_floating(x, "quantized_matmul");
  TESSERA_CHECK(w.ndim() == 2, "quantized_matmul",
                "packed weights must be 2-d, got " + to_string(w.shape()));
  TESSERA_CHECK(x.ndim() >= 1, "quantized_matmul", "x must be at least 1-d");
  int64_t k = transpose ? packed_len : w.shape(0);
  int64_t n = transpose ? w.shape(0) : packed_len;
  TESSERA_CHECK(x.shape(-1) == k, "quantized_matmul",
                "x " + to_string(x.shape()) + " does not align with " + std::to_string(k) +
                    " input features of the " + (transpose ? "transposed " : "") + "weights " +
                    to_string(w.shape()));
  std::vector<Array> inputs = {x, w, scales, biases};
  if (bias) {
    TESSERA_CHECK(bias->ndim() == 1 && bias->shape(0) == n, "quantized_addmm",
                  "bias of shape " + to_string(bias->shape()) + " does not match " + std::to_string(n) +
                      " output features");
    detail::check_floating(*bias, "quantized_addmm");
    inputs.push_back(*bias);
  }
  Shape out = x.shape();
  out.back() = n;
  // The CPU fuses the activation (quantized_onednn.cpp: a oneDNN post-op before the rounding);
  // CUDA in its one-row 4-bit kernel, else as its own pass (QuantizedMatmul::eval_unfused).
  return build<QuantizedMatmul>(out, x.dtype(), std::move(inputs), transpose, group_size, bits, bias.has_value(),
                                activation);
}
}  // namespace

Array quantized_matmul(const Array& x, const Array& w, const Array& scales, const Array& biases,
                       bool transpose, int group_size, int bits) {
  return quantized_matmul_impl(x, w, scales, biases, transpose, group_size, bits, std::nullopt);
}

Array quantized_matmul_int8(const Array& x, const Array& w, const Array& scales, const Array& biases,
                            const std::optional<Array>& bias, int group_size) {
  // The same checks and output as the exact op; only the primitive differs.
  Array y = quantized_matmul_impl(x, w, scales, biases, true, group_size, 8, bias);
  std::vector<Array> inputs = y.inputs();
  return build<QuantizedMatmulInt8>(y.shape(), y.dtype(), std::move(inputs), group_size, bias.has_value());
}

Array quantized_addmm(const Array& bias, const Array& x, const Array& w, const Array& scales,
                      const Array& biases, int group_size, int bits, Activation activation) {
  return quantized_matmul_impl(x, w, scales, biases, true, group_size, bits, bias, activation);
}

Array quantized_linear(const Array& x, const Array& w, const Array& scales, const Array& biases,
                       const std::optional<Array>& bias, int group_size, int bits, Activation activation, bool glu,
                       const std::optional<Array>& residual, const std::optional<InputRmsNorm>& input_norm) {
  Array y = quantized_matmul_impl(x, w, scales, biases, true, group_size, bits, bias);
  if (activation == Activation::none && !glu && !residual && !input_norm) return y;
  const int64_t n = w.shape(0);
  TESSERA_CHECK(!glu || (activation != Activation::none && n % 2 == 0), "quantized_linear",
                "glu needs an activation and an even number of output features (gate half, up half), got " +
                    std::to_string(n));
  Shape out = y.shape();
  out.back() = glu ? n / 2 : n;
  std::vector<Array> inputs = y.inputs();
  std::optional<float> norm_eps;
  if (input_norm) {
    inputs.push_back(detail::input_norm_weight(*input_norm, x, x.dtype(), "quantized_linear"));
    norm_eps = input_norm->eps;
  }
  if (residual) {
    TESSERA_CHECK(residual->shape() == out, "quantized_linear",
                  "residual of shape " + to_string(residual->shape()) + " does not match the result's " + to_string(out));
    detail::check_floating(*residual, "quantized_linear");
    inputs.push_back(astype(*residual, x.dtype()));
  }
  return build<QuantizedMatmul>(std::move(out), x.dtype(), std::move(inputs), true, group_size, bits, bias.has_value(),
                                activation, glu, residual.has_value(), norm_eps);
}

Array gather_quantized_matmul(const Array& x, const Array& w, const Array& scales, const Array& biases,
                              const Array& indices, int group_size, int bits, Activation glu,
                              const std::optional<Array>& row_weights) {
  const char* op = "gather_quantized_matmul";
  int64_t in = check_packed(w, scales, biases, group_size, bits, op);
  TESSERA_CHECK(w.ndim() == 3, op, "packed experts must be stacked [E, out, in * bits / 32], got " + to_string(w.shape()));
  std::vector<Array> inputs = {x, w, scales, biases};
  Shape shape = detail::gather_matmul_shape(x, indices, in, w.shape(1), glu, row_weights, inputs, op);
  return build<GatherQuantizedMatmul>(std::move(shape), x.dtype(), std::move(inputs), group_size, bits, glu,
                                      row_weights.has_value());
}

}  // namespace tessera
