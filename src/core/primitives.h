#pragma once
// The primitives behind the ops. Each one computes a single output array from its inputs; its
// eval_cpu lives in src/backend/cpu/, its eval_cuda in src/backend/cuda/ (or the stub in
// src/backend/no_cuda.cpp that reports "not supported on cuda").
#include <optional>
#include <vector>

#include "tessera/activation.h"
#include "tessera/array.h"

namespace tessera {

class Primitive {
 public:
  virtual ~Primitive() = default;
  virtual const char* name() const = 0;
  virtual void eval_cpu(const std::vector<Array>& inputs, Array& out) = 0;
  virtual void eval_cuda(const std::vector<Array>& inputs, Array& out) = 0;
};

#define TESSERA_PRIMITIVE(NAME)                                              \
  const char* name() const override { return #NAME; }                       \
  void eval_cpu(const std::vector<Array>& inputs, Array& out) override;     \
  void eval_cuda(const std::vector<Array>& inputs, Array& out) override;

// Views share the input's buffer; they run the same way on every device.
class ViewPrimitive : public Primitive {
 public:
  void eval_cpu(const std::vector<Array>& inputs, Array& out) override { eval_view(inputs, out); }
  void eval_cuda(const std::vector<Array>& inputs, Array& out) override { eval_view(inputs, out); }
  virtual void eval_view(const std::vector<Array>& inputs, Array& out) = 0;
};

class Full : public Primitive {
 public:
  explicit Full(double value) : value(value) {}
  TESSERA_PRIMITIVE(Full)
  double value;
};

class Arange : public Primitive {
 public:
  explicit Arange(int64_t start) : start(start) {}
  TESSERA_PRIMITIVE(Arange)
  int64_t start;
};

// Contiguous copy with dtype conversion; out.dtype() is the target.
class AsType : public Primitive {
 public:
  TESSERA_PRIMITIVE(AsType)
};

// Moves an array to out.device().
class ToDevice : public Primitive {
 public:
  TESSERA_PRIMITIVE(ToDevice)
};

class Reshape : public Primitive {  // a view when the input is contiguous, else a copy
 public:
  TESSERA_PRIMITIVE(Reshape)
};

class Transpose : public ViewPrimitive {
 public:
  explicit Transpose(std::vector<int> axes) : axes(std::move(axes)) {}
  const char* name() const override { return "Transpose"; }
  void eval_view(const std::vector<Array>& inputs, Array& out) override;
  std::vector<int> axes;
};

class Broadcast : public ViewPrimitive {
 public:
  const char* name() const override { return "Broadcast"; }
  void eval_view(const std::vector<Array>& inputs, Array& out) override;
};

class Slice : public ViewPrimitive {
 public:
  Slice(std::vector<int64_t> start, std::vector<int64_t> step)
      : start(std::move(start)), step(std::move(step)) {}
  const char* name() const override { return "Slice"; }
  void eval_view(const std::vector<Array>& inputs, Array& out) override;
  std::vector<int64_t> start, step;
};

class Concatenate : public Primitive {
 public:
  explicit Concatenate(int axis) : axis(axis) {}
  TESSERA_PRIMITIVE(Concatenate)
  int axis;
};

// out = dst with the box [start, start + update.shape) replaced by update (inputs: dst, update).
// When dst's buffer has no other user it is written in place (donated), so appending one token
// to a preallocated KV cache costs O(token), not O(cache).
// inputs: dst, update [, shift]. With `shift_axis` >= 0 the box starts shift[0] further along that
// axis, read from an int32 [1] array (data: the KV-cache slot of a replayed decode step); a shift
// that would leave dst is clamped into it.
class SliceUpdate : public Primitive {
 public:
  explicit SliceUpdate(std::vector<int64_t> start, int shift_axis = -1)
      : start(std::move(start)), shift_axis(shift_axis) {}
  TESSERA_PRIMITIVE(SliceUpdate)
  std::vector<int64_t> start;
  int shift_axis;
};

enum class UnaryOp { negative, abs, exp, log, sqrt, rsqrt, square, tanh, erf, sigmoid, relu, silu, gelu, gelu_tanh };
enum class BinaryOp { add, subtract, multiply, divide, maximum, minimum, equal, less, greater };

// The elementwise op a fused activation stands for, when a backend applies it separately.
inline UnaryOp activation_op(Activation activation) {
  switch (activation) {
    case Activation::gelu: return UnaryOp::gelu;
    case Activation::gelu_tanh: return UnaryOp::gelu_tanh;
    case Activation::relu: return UnaryOp::relu;
    case Activation::silu: return UnaryOp::silu;
    case Activation::tanh: return UnaryOp::tanh;
    case Activation::none: break;
  }
  fail("linear", "no activation to apply");
}

class Unary : public Primitive {
 public:
  explicit Unary(UnaryOp op) : op(op) {}
  TESSERA_PRIMITIVE(Unary)
  UnaryOp op;
};

// Inputs already broadcast to out.shape() and promoted (comparisons output bool).
class Binary : public Primitive {
 public:
  explicit Binary(BinaryOp op) : op(op) {}
  TESSERA_PRIMITIVE(Binary)
  BinaryOp op;
};

class Where : public Primitive {
 public:
  TESSERA_PRIMITIVE(Where)
};

enum class ReduceOp { sum, mean, max, min };

class Reduce : public Primitive {
 public:
  Reduce(ReduceOp op, std::vector<int> axes) : op(op), axes(std::move(axes)) {}
  TESSERA_PRIMITIVE(Reduce)
  ReduceOp op;
  std::vector<int> axes;  // sorted, non-negative; out keeps them as size-1 dims
};

class ArgMax : public Primitive {
 public:
  explicit ArgMax(int axis) : axis(axis) {}
  TESSERA_PRIMITIVE(ArgMax)
  int axis;  // out keeps it as a size-1 dim
};

// a [..., M, K] @ b [..., K, N] [+ bias [N]]; batch dims already broadcast to out's.
class Matmul : public Primitive {
 public:
  TESSERA_PRIMITIVE(Matmul)
};

// activation(x [..., K] @ weight [N, K]^T [+ bias [N]]), or with glu activation(gate) * up over
// the two halves of the product, then + residual; inputs: x, weight [, bias] [, residual]. The
// weight is a parameter: backends may keep a prepared copy of it with its buffer.
// inputs: x, weight [, bias] [, input norm weight] [, residual]
class Linear : public Primitive {
 public:
  Linear(Activation activation, bool has_bias, bool glu = false, bool has_residual = false,
         std::optional<float> norm_eps = std::nullopt)
      : activation(activation), has_bias(has_bias), glu(glu), has_residual(has_residual), norm_eps(norm_eps) {}
  TESSERA_PRIMITIVE(Linear)
  Activation activation;
  bool has_bias, glu, has_residual;
  std::optional<float> norm_eps;  // set: x goes through rms_norm first (ops.h linear's input_norm)
  size_t norm_index() const { return has_bias ? 3 : 2; }
  // The input norm, glu and the residual as the separate ops would apply them (norm, product,
  // activation, multiply, add, each rounded), on either backend: where no fused kernel takes the shape.
  void eval_unfused(const std::vector<Array>& inputs, Array& out, bool cuda);
};

// The end of linear's and quantized_linear's epilogue as separate ops: `product` holds the full
// [..., N] result with bias (and a non-glu activation) applied; then activation(gate) * up when
// glu_activation is not none, then + residual when given, each rounded to out's dtype.
void finish_linear_epilogue(const Array& product, Activation glu_activation, const Array* residual, Array& out,
                            bool cuda);

// weight [N, K] as Matmul's right operand for x [..., M, K]: the view W^T [..., K, N], broadcast
// over x's batch dims (what backends fall back to when they run a Linear as a Matmul).
inline Array transposed_weight(const Array& x, const Array& weight) {
  Shape shape(x.shape().begin(), x.shape().end() - 2);
  Strides strides(shape.size(), 0);
  shape.insert(shape.end(), {weight.shape(1), weight.shape(0)});
  strides.insert(strides.end(), {weight.strides()[1], weight.strides()[0]});
  return Array::from_buffer(weight.buffer(), shape, weight.dtype(), strides, weight.offset());
}

class Softmax : public Primitive {  // over the last axis
 public:
  explicit Softmax(bool log) : log(log) {}
  TESSERA_PRIMITIVE(Softmax)
  bool log;
};

// LayerNorm of x, or of x + residual in one pass (the post-norm residual block: the sum is
// taken in float32 and never stored). Inputs: x [, residual] [, weight] [, bias].
class LayerNorm : public Primitive {
 public:
  LayerNorm(float eps, bool has_weight, bool has_bias, bool has_residual = false)
      : eps(eps), has_weight(has_weight), has_bias(has_bias), has_residual(has_residual) {}
  TESSERA_PRIMITIVE(LayerNorm)
  float eps;
  bool has_weight, has_bias, has_residual;
  // Where weight and bias sit among the inputs.
  size_t weight_index() const { return has_residual ? 2 : 1; }
  size_t bias_index() const { return weight_index() + (has_weight ? 1 : 0); }
};

class RMSNorm : public Primitive {  // inputs: x [, weight]
 public:
  RMSNorm(float eps, bool has_weight) : eps(eps), has_weight(has_weight) {}
  TESSERA_PRIMITIVE(RMSNorm)
  float eps;
  bool has_weight;
};

// inputs: x [, freqs] [, position]: with `has_position` the first row's position is read from an
// int32 [1] array (data, so a captured decode step replays at any position), else it is `offset`.
class Rope : public Primitive {
 public:
  Rope(int dims, bool traditional, float base, float scale, int64_t offset, bool has_freqs, bool has_position)
      : dims(dims), traditional(traditional), base(base), scale(scale), offset(offset),
        has_freqs(has_freqs), has_position(has_position) {}
  TESSERA_PRIMITIVE(Rope)
  int dims;
  bool traditional;
  float base, scale;
  int64_t offset;
  bool has_freqs, has_position;
};

class ScaledDotProductAttention : public Primitive {  // inputs: q, k, v [, mask]
 public:
  ScaledDotProductAttention(float scale, bool causal, bool has_mask)
      : scale(scale), causal(causal), has_mask(has_mask) {}
  TESSERA_PRIMITIVE(ScaledDotProductAttention)
  float scale;
  bool causal;
  bool has_mask;  // mask broadcast to [B,Hq,Sq,Sk]; bool or the query dtype (additive)
};

// The embedding block of BERT-style encoders in one pass: per token, the rows ids[i] of tables[i]
// summed in float32 and layer-normalised. Inputs: `tables` tables [V_i, H] (contiguous, one
// dtype), as many contiguous integer id arrays of one shape, then [weight] [bias].
class EmbeddingLayerNorm : public Primitive {
 public:
  EmbeddingLayerNorm(int tables, float eps, bool has_weight, bool has_bias)
      : tables(tables), eps(eps), has_weight(has_weight), has_bias(has_bias) {}
  TESSERA_PRIMITIVE(EmbeddingLayerNorm)
  int tables;
  float eps;
  bool has_weight, has_bias;
};

// Attention within packed variable-length sequences (inputs: q [T,Hq,D], k [T,Hkv,D],
// v [T,Hkv,Dv], cu_seqlens int32 [n+1]): sequence i is rows [cu[i], cu[i+1]), attending only
// within itself. max_seqlen sizes the launch without reading cu_seqlens back from a device.
class VarlenAttention : public Primitive {
 public:
  VarlenAttention(float scale, bool causal, int64_t max_seqlen)
      : scale(scale), causal(causal), max_seqlen(max_seqlen) {}
  TESSERA_PRIMITIVE(VarlenAttention)
  float scale;
  bool causal;
  int64_t max_seqlen;
};

// MLX's affine quantization, in two steps so the packed q can use the float32 scale before it is
// rounded to the weights' dtype (as MLX does): per-group float32 (scale, bias) pairs
// [..., K / group_size, 2], then the packed uint32 words (inputs: w, those pairs).
class QuantizeGroupParams : public Primitive {
 public:
  QuantizeGroupParams(int group_size, int bits) : group_size(group_size), bits(bits) {}
  TESSERA_PRIMITIVE(QuantizeGroupParams)
  int group_size, bits;
};

class QuantizePack : public Primitive {
 public:
  QuantizePack(int group_size, int bits) : group_size(group_size), bits(bits) {}
  TESSERA_PRIMITIVE(QuantizePack)
  int group_size, bits;
};

class Dequantize : public Primitive {  // inputs: packed w, scales, biases
 public:
  Dequantize(int group_size, int bits) : group_size(group_size), bits(bits) {}
  TESSERA_PRIMITIVE(Dequantize)
  int group_size, bits;
};

// x [..., K] times the dequantized 2-d weight, transposed or not, plus an optional output bias
// [N] added in float32; inputs: x, w, scales, biases [, bias].
// activation: applied to the result (after the bias) before its rounding to the output dtype
// (the CPU fuses it into its GEMM; CUDA's one-row 4-bit kernel into its epilogue, other CUDA
// shapes run it as its own pass); glu and residual as Linear's.
class QuantizedMatmul : public Primitive {
 public:
  QuantizedMatmul(bool transpose, int group_size, int bits, bool has_bias, Activation activation = Activation::none,
                  bool glu = false, bool has_residual = false, std::optional<float> norm_eps = std::nullopt)
      : transpose(transpose), group_size(group_size), bits(bits), has_bias(has_bias), activation(activation),
        glu(glu), has_residual(has_residual), norm_eps(norm_eps) {}
  TESSERA_PRIMITIVE(QuantizedMatmul)
  bool transpose;
  int group_size, bits;
  bool has_bias;
  // quantized_linear's prologue and epilogue, as Linear's (inputs: x, w, scales, biases [, bias]
  // [, input norm weight] [, residual]).
  Activation activation;
  bool glu, has_residual;
  std::optional<float> norm_eps;
  size_t norm_index() const { return has_bias ? 5 : 4; }
  bool has_epilogue() const { return activation != Activation::none || glu || has_residual || norm_eps; }
  void eval_unfused(const std::vector<Array>& inputs, Array& out, bool cuda);
};

// x [..., K] times the transposed 8-bit weight [+ bias [N]] in integer arithmetic: x quantized
// to int8 on the fly per token and group, int32 dot products per group scaled in float32
// (backend/cpu/int8_gemm.h); inputs: x, w, scales, biases [, bias].
class QuantizedMatmulInt8 : public Primitive {
 public:
  QuantizedMatmulInt8(int group_size, bool has_bias) : group_size(group_size), has_bias(has_bias) {}
  TESSERA_PRIMITIVE(QuantizedMatmulInt8)
  int group_size;
  bool has_bias;
};

class Take : public Primitive {  // inputs: a, indices
 public:
  explicit Take(int axis) : axis(axis) {}
  TESSERA_PRIMITIVE(Take)
  int axis;
};

class TakeAlongAxis : public Primitive {  // inputs: a, indices (broadcast to out's shape)
 public:
  explicit TakeAlongAxis(int axis) : axis(axis) {}
  TESSERA_PRIMITIVE(TakeAlongAxis)
  int axis;
};

class ArgTopK : public Primitive {  // int32 indices of the k largest, sorted descending
 public:
  ArgTopK(int k, int axis) : k(k), axis(axis) {}
  TESSERA_PRIMITIVE(ArgTopK)
  int k, axis;
};

// Row r of x times the transposed expert w[indices[r]] (ops.h: gather_matmul); x's rows are
// shared by indices.size() / x rows consecutive indices. glu: w's rows are [gate; up] and the
// result glu(gate) * up; weighted: the rows of each index row summed, times row_weights (x's
// dtype). inputs: x, w [E, out, in], indices [, row_weights].
class GatherMatmul : public Primitive {
 public:
  GatherMatmul(Activation glu, bool weighted) : glu(glu), weighted(weighted) {}
  TESSERA_PRIMITIVE(GatherMatmul)
  Activation glu;
  bool weighted;
};

// The same with packed experts; inputs: x, w, scales, biases, indices [, row_weights].
class GatherQuantizedMatmul : public Primitive {
 public:
  GatherQuantizedMatmul(int group_size, int bits, Activation glu, bool weighted)
      : group_size(group_size), bits(bits), glu(glu), weighted(weighted) {}
  TESSERA_PRIMITIVE(GatherQuantizedMatmul)
  int group_size, bits;
  Activation glu;
  bool weighted;
};

}  // namespace tessera
