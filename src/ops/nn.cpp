#include "ops/op_utils.h"

namespace tessera {

using detail::build;

namespace {
Array matmul_impl(const Array& a_in, const Array& b_in, const std::optional<Array>& bias) {
  TESSERA_CHECK(a_in.ndim() >= 1 && b_in.ndim() >= 1, "matmul", "operands must be at least 1-d");
  detail::check_floating(a_in, "matmul");
  detail::check_floating(b_in, "matmul");
  Array a = a_in.ndim() == 1 ? reshape(a_in, {1, a_in.shape(0)}) : a_in;
  Array b = b_in.ndim() == 1 ? reshape(b_in, {b_in.shape(0), 1}) : b_in;
  TESSERA_CHECK(a.shape(-1) == b.shape(-2), "matmul",
                "shapes " + to_string(a_in.shape()) + " and " + to_string(b_in.shape()) +
                    " do not align for matrix product");
  Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch = detail::broadcast_shapes(batch_a, batch_b, "matmul");
  Dtype dtype = promote(a.dtype(), b.dtype());
  Shape a_shape = batch, b_shape = batch, out_shape = batch;
  a_shape.insert(a_shape.end(), {a.shape(-2), a.shape(-1)});
  b_shape.insert(b_shape.end(), {b.shape(-2), b.shape(-1)});
  out_shape.insert(out_shape.end(), {a.shape(-2), b.shape(-1)});
  std::vector<Array> inputs = {broadcast_to(astype(a, dtype), a_shape), broadcast_to(astype(b, dtype), b_shape)};
  if (bias) {
    TESSERA_CHECK(bias->ndim() == 1 && bias->shape(0) == b.shape(-1), "addmm",
                  "bias of shape " + to_string(bias->shape()) + " does not match " + std::to_string(b.shape(-1)) +
                      " output features");
    inputs.push_back(astype(*bias, dtype));
  }
  Array out = build<Matmul>(out_shape, dtype, std::move(inputs));
  if (a_in.ndim() == 1) out = squeeze(out, -2);
  if (b_in.ndim() == 1) out = squeeze(out, -1);
  return out;
}
}  // namespace

Array matmul(const Array& a, const Array& b) { return matmul_impl(a, b, std::nullopt); }

Array addmm(const Array& bias, const Array& a, const Array& b) {
  TESSERA_CHECK(b.ndim() >= 2, "addmm", "b must be at least 2-d");
  return matmul_impl(a, b, bias);
}

Array linear(const Array& x, const Array& weight, const std::optional<Array>& bias,
             Activation activation, bool glu, const std::optional<Array>& residual,
             const std::optional<InputRmsNorm>& input_norm) {
  detail::check_floating(x, "linear");
  detail::check_floating(weight, "linear");
  TESSERA_CHECK(x.ndim() >= 1 && weight.ndim() == 2, "linear",
                "needs x [..., K] and a 2-d weight [N, K], got " + to_string(x.shape()) + " and " +
                    to_string(weight.shape()));
  TESSERA_CHECK(x.shape(-1) == weight.shape(1), "linear",
                "x " + to_string(x.shape()) + " does not align with weight " +
                    to_string(weight.shape()) + " (input features are its second axis)");
  TESSERA_CHECK(!glu || (activation != Activation::none && weight.shape(0) % 2 == 0), "linear",
                "glu needs an activation and an even number of output features (gate half, up half), got " +
                    std::to_string(weight.shape(0)));
  if (x.ndim() == 1) {
    std::optional<Array> residual_2d;
    if (residual) residual_2d = reshape(*residual, {1, residual->size()});
    Array y = linear(reshape(x, {1, x.shape(0)}), weight, bias, activation, glu, residual_2d, input_norm);
    return reshape(y, {y.shape(1)});
  }
  Dtype dtype = promote(x.dtype(), weight.dtype());
  // The norm rounds in x's dtype (rms_norm's output): fused only when the product keeps it.
  if (input_norm && x.dtype() != dtype)
    return linear(rms_norm(x, input_norm->weight, input_norm->eps), weight, bias, activation, glu, residual);
  std::vector<Array> inputs = {astype(x, dtype), astype(weight, dtype)};
  if (bias) {
    TESSERA_CHECK(bias->ndim() == 1 && bias->shape(0) == weight.shape(0), "linear",
                  "bias of shape " + to_string(bias->shape()) + " does not match " +
                      std::to_string(weight.shape(0)) + " output features");
    detail::check_floating(*bias, "linear");
    inputs.push_back(astype(*bias, dtype));
  }
  if (input_norm) inputs.push_back(detail::input_norm_weight(*input_norm, x, dtype, "linear"));
  Shape out = x.shape();
  out.back() = glu ? weight.shape(0) / 2 : weight.shape(0);
  if (residual) {
    TESSERA_CHECK(residual->shape() == out, "linear",
                  "residual of shape " + to_string(residual->shape()) + " does not match the result's " + to_string(out));
    detail::check_floating(*residual, "linear");
    inputs.push_back(astype(*residual, dtype));
  }
  std::optional<float> norm_eps;
  if (input_norm) norm_eps = input_norm->eps;
  return build<Linear>(out, dtype, std::move(inputs), activation, bias.has_value(), glu, residual.has_value(),
                       norm_eps);
}

namespace {
// Runs a last-axis primitive along `axis` by swapping that axis to the end and back.
template <typename Fn>
Array along_last_axis(const Array& a, int axis, const char* name, Fn last_axis_op) {
  int ax = detail::normalize_axis(axis, a.ndim(), name);
  if (ax == a.ndim() - 1) return last_axis_op(a);
  return swapaxes(last_axis_op(swapaxes(a, ax, -1)), ax, -1);
}
}  // namespace

Array softmax(const Array& a, int axis) {
  detail::check_floating(a, "softmax");
  return along_last_axis(a, axis, "softmax",
                         [](const Array& x) { return build<Softmax>(x.shape(), x.dtype(), {x}, false); });
}

Array log_softmax(const Array& a, int axis) {
  detail::check_floating(a, "log_softmax");
  return along_last_axis(a, axis, "log_softmax",
                         [](const Array& x) { return build<Softmax>(x.shape(), x.dtype(), {x}, true); });
}

namespace {
void check_feature_vector(const std::optional<Array>& v, const Array& x, const char* op,
                          const char* what) {
  if (!v) return;
  TESSERA_CHECK(v->ndim() == 1 && v->shape(0) == x.shape(-1), op,
                std::string(what) + " of shape " + to_string(v->shape()) + " does not match " +
                    to_string(x.shape()));
}
}  // namespace

Array layer_norm(const Array& x, const std::optional<Array>& weight,
                 const std::optional<Array>& bias, float eps) {
  detail::check_floating(x, "layer_norm");
  TESSERA_CHECK(x.ndim() >= 1, "layer_norm", "expects at least 1-d input");
  check_feature_vector(weight, x, "layer_norm", "weight");
  check_feature_vector(bias, x, "layer_norm", "bias");
  std::vector<Array> inputs = {x};
  if (weight) inputs.push_back(astype(*weight, x.dtype()));
  if (bias) inputs.push_back(astype(*bias, x.dtype()));
  return build<LayerNorm>(x.shape(), x.dtype(), std::move(inputs), eps, weight.has_value(),
                          bias.has_value());
}

Array embedding_layer_norm(const std::vector<Array>& tables, const std::vector<Array>& ids,
                           const std::optional<Array>& weight, const std::optional<Array>& bias, float eps) {
  const char* op = "embedding_layer_norm";
  TESSERA_CHECK(!tables.empty() && tables.size() <= 3 && tables.size() == ids.size(), op,
                "expects 1 to 3 tables with one id array each");
  const Array& first = tables.front();
  TESSERA_CHECK(first.ndim() == 2, op, "tables must be [vocab, width], got " + to_string(first.shape()));
  detail::check_floating(first, op);
  int64_t width = first.shape(1);
  for (size_t i = 0; i < tables.size(); ++i) {
    TESSERA_CHECK(tables[i].ndim() == 2 && tables[i].shape(1) == width && tables[i].dtype() == first.dtype(), op,
                  "tables differ in width or dtype");
    TESSERA_CHECK(ids[i].dtype() == Dtype::int64 || ids[i].dtype() == Dtype::int32, op, "ids must be int32 or int64");
    TESSERA_CHECK(ids[i].shape() == ids[0].shape() && ids[i].dtype() == ids[0].dtype(), op,
                  "id arrays differ in shape or dtype");
  }
  // Rows one warp keeps in registers (16-byte chunks, at most 2 KB): the fused primitive.
  int64_t row_bytes = width * int64_t(itemsize(first.dtype()));
  if (row_bytes % 16 != 0 || row_bytes > 2048) {
    Array x = take(tables[0], ids[0], 0);
    for (size_t i = 1; i < tables.size(); ++i) x = add(x, take(tables[i], ids[i], 0));
    return layer_norm(x, weight, bias, eps);
  }
  check_feature_vector(weight, first, op, "weight");
  check_feature_vector(bias, first, op, "bias");
  std::vector<Array> inputs;
  for (const Array& t : tables) inputs.push_back(contiguous(t));
  for (const Array& i : ids) inputs.push_back(contiguous(i));
  if (weight) inputs.push_back(contiguous(astype(*weight, first.dtype())));
  if (bias) inputs.push_back(contiguous(astype(*bias, first.dtype())));
  Shape shape = ids[0].shape();
  shape.push_back(width);
  return build<EmbeddingLayerNorm>(shape, first.dtype(), std::move(inputs), int(tables.size()), eps,
                                   weight.has_value(), bias.has_value());
}

Array add_layer_norm(const Array& x, const Array& residual, const std::optional<Array>& weight,
                     const std::optional<Array>& bias, float eps) {
  const char* op = "add_layer_norm";
  detail::check_floating(x, op);
  TESSERA_CHECK(x.ndim() >= 1, op, "expects at least 1-d input");
  TESSERA_CHECK(residual.shape() == x.shape(), op,
                "residual " + to_string(residual.shape()) + " differs from x " + to_string(x.shape()));
  check_feature_vector(weight, x, op, "weight");
  check_feature_vector(bias, x, op, "bias");
  std::vector<Array> inputs = {x, astype(residual, x.dtype())};
  if (weight) inputs.push_back(astype(*weight, x.dtype()));
  if (bias) inputs.push_back(astype(*bias, x.dtype()));
  return build<LayerNorm>(x.shape(), x.dtype(), std::move(inputs), eps, weight.has_value(), bias.has_value(),
                          true);
}

Array rms_norm(const Array& x, const std::optional<Array>& weight, float eps) {
  detail::check_floating(x, "rms_norm");
  TESSERA_CHECK(x.ndim() >= 1, "rms_norm", "expects at least 1-d input");
  check_feature_vector(weight, x, "rms_norm", "weight");
  std::vector<Array> inputs = {x};
  if (weight) inputs.push_back(astype(*weight, x.dtype()));
  return build<RMSNorm>(x.shape(), x.dtype(), std::move(inputs), eps, weight.has_value());
}

namespace {

// The Rope node; `position` (int32 [1]) replaces `offset` when given.
Array build_rope(const Array& x, int dims, bool traditional, float base, float scale, int64_t offset,
                 const std::optional<Array>& position, const std::optional<Array>& freqs) {
  detail::check_floating(x, "rope");
  TESSERA_CHECK(x.ndim() >= 2, "rope", "expects [..., S, D], got " + to_string(x.shape()));
  TESSERA_CHECK(dims > 0 && dims % 2 == 0 && dims <= x.shape(-1), "rope",
                "dims " + std::to_string(dims) + " must be even and at most " +
                    std::to_string(x.shape(-1)));
  TESSERA_CHECK(offset >= 0, "rope", "negative offset");
  std::vector<Array> inputs = {x};
  if (freqs) {
    TESSERA_CHECK(freqs->ndim() == 1 && freqs->shape(0) == dims / 2, "rope",
                  "freqs must have shape (" + std::to_string(dims / 2) + ")");
    inputs.push_back(astype(*freqs, Dtype::float32));
  }
  if (position) {
    TESSERA_CHECK(position->dtype() == Dtype::int32 && position->size() == 1, "rope",
                  "position must be one int32, got " + std::string(name(position->dtype())) + " " +
                      to_string(position->shape()));
    inputs.push_back(reshape(*position, {1}));
  }
  return build<Rope>(x.shape(), x.dtype(), std::move(inputs), dims, traditional, base, scale, offset,
                     freqs.has_value(), position.has_value());
}

}  // namespace

Array rope(const Array& x, int dims, bool traditional, float base, float scale, int64_t offset,
           const std::optional<Array>& freqs) {
  return build_rope(x, dims, traditional, base, scale, offset, std::nullopt, freqs);
}

Array rope(const Array& x, int dims, bool traditional, float base, float scale, const Array& position,
           const std::optional<Array>& freqs) {
  return build_rope(x, dims, traditional, base, scale, 0, position, freqs);
}

Array scaled_dot_product_attention(const Array& q, const Array& k, const Array& v, float scale,
                                   const std::optional<Array>& mask, bool causal) {
  const char* op = "scaled_dot_product_attention";
  detail::check_floating(q, op);
  TESSERA_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, op,
                "expects q, k, v of shape [B,H,S,D]");
  TESSERA_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), op, "q, k, v dtypes differ");
  int64_t batch = q.shape(0), heads = q.shape(1), sq = q.shape(2), head_dim = q.shape(3);
  int64_t kv_heads = k.shape(1), sk = k.shape(2);
  TESSERA_CHECK(k.shape(0) == batch && v.shape(0) == batch && v.shape(1) == kv_heads &&
                    v.shape(2) == sk && k.shape(3) == head_dim,
                op, "q " + to_string(q.shape()) + ", k " + to_string(k.shape()) + ", v " +
                        to_string(v.shape()) + " do not fit together");
  TESSERA_CHECK(kv_heads > 0 && heads % kv_heads == 0, op,
                "query heads must be a multiple of key/value heads");
  TESSERA_CHECK(!causal || sq <= sk, op, "causal attention needs at least as many keys as queries");
  std::vector<Array> inputs = {q, k, v};
  Shape out_shape = {batch, heads, sq, v.shape(3)};
  if (mask) {
    Shape scores = {batch, heads, sq, sk};
    TESSERA_CHECK(detail::broadcast_shapes(mask->shape(), scores, op) == scores, op,
                  "mask " + to_string(mask->shape()) + " does not broadcast to " + to_string(scores));
    Dtype mask_dtype = mask->dtype() == Dtype::bool_ ? Dtype::bool_ : q.dtype();
    inputs.push_back(broadcast_to(astype(*mask, mask_dtype), scores));
  }
  return build<ScaledDotProductAttention>(out_shape, q.dtype(), std::move(inputs), scale, causal,
                                          mask.has_value());
}

}  // namespace tessera

namespace tessera {

Array varlen_attention(const Array& q, const Array& k, const Array& v,
                       const std::vector<int64_t>& cu_seqlens, float scale, bool causal) {
  const char* op = "varlen_attention";
  TESSERA_CHECK(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3, op, "expects q, k, v of shape [T,H,D]");
  TESSERA_CHECK(cu_seqlens.size() >= 2 && cu_seqlens.front() == 0 && cu_seqlens.back() == q.shape(0) &&
                    k.shape(0) == q.shape(0) && v.shape(0) == q.shape(0),
                op, "cu_seqlens must run from 0 to the token count of q, k and v");
  detail::check_floating(q, op);
  TESSERA_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), op, "q, k, v dtypes differ");
  TESSERA_CHECK(k.shape(1) == v.shape(1) && k.shape(2) == q.shape(2), op,
                "q " + to_string(q.shape()) + ", k " + to_string(k.shape()) + ", v " + to_string(v.shape()) +
                    " do not fit together");
  TESSERA_CHECK(k.shape(1) > 0 && q.shape(1) % k.shape(1) == 0, op,
                "query heads must be a multiple of key/value heads");
  int64_t longest = 0;
  std::vector<int32_t> bounds;
  for (size_t i = 0; i < cu_seqlens.size(); ++i) {
    TESSERA_CHECK(i == 0 || cu_seqlens[i] >= cu_seqlens[i - 1], op, "cu_seqlens must not decrease");
    TESSERA_CHECK(cu_seqlens[i] <= std::numeric_limits<int32_t>::max(), op, "more than 2^31 tokens");
    if (i > 0) longest = std::max(longest, cu_seqlens[i] - cu_seqlens[i - 1]);
    bounds.push_back(int32_t(cu_seqlens[i]));
  }
  int64_t sequences = int64_t(bounds.size()) - 1;
  Array cu = Array(bounds, {sequences + 1});
  return build<VarlenAttention>({q.shape(0), q.shape(1), v.shape(2)}, q.dtype(), {q, k, v, cu}, scale, causal,
                                longest);
}

}  // namespace tessera
