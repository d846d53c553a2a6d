#include "ops/op_utils.h"

namespace tessera {

using detail::build;

namespace {

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::equal || op == BinaryOp::less || op == BinaryOp::greater;
}

Array binary(BinaryOp op, const Array& a, const Array& b, const char* name) {
  Shape shape = detail::broadcast_shapes(a.shape(), b.shape(), name);
  Dtype dtype = promote(a.dtype(), b.dtype());
  std::vector<Array> inputs = {broadcast_to(astype(a, dtype), shape),
                               broadcast_to(astype(b, dtype), shape)};
  return build<Binary>(std::move(shape), is_comparison(op) ? Dtype::bool_ : dtype,
                       std::move(inputs), op);
}

Array unary(UnaryOp op, const Array& a, const char* name) {
  bool integer_ok = op == UnaryOp::negative || op == UnaryOp::abs || op == UnaryOp::square ||
                    op == UnaryOp::relu;
  if (!integer_ok) detail::check_floating(a, name);
  return build<Unary>(a.shape(), a.dtype(), {a}, op);
}

}  // namespace

Array add(const Array& a, const Array& b) { return binary(BinaryOp::add, a, b, "add"); }
Array subtract(const Array& a, const Array& b) { return binary(BinaryOp::subtract, a, b, "subtract"); }
Array multiply(const Array& a, const Array& b) { return binary(BinaryOp::multiply, a, b, "multiply"); }
Array divide(const Array& a, const Array& b) { return binary(BinaryOp::divide, a, b, "divide"); }
Array maximum(const Array& a, const Array& b) { return binary(BinaryOp::maximum, a, b, "maximum"); }
Array minimum(const Array& a, const Array& b) { return binary(BinaryOp::minimum, a, b, "minimum"); }
Array equal(const Array& a, const Array& b) { return binary(BinaryOp::equal, a, b, "equal"); }
Array less(const Array& a, const Array& b) { return binary(BinaryOp::less, a, b, "less"); }
Array greater(const Array& a, const Array& b) { return binary(BinaryOp::greater, a, b, "greater"); }

Array add(const Array& a, double b) { return add(a, Array::scalar(b, a.dtype())); }
Array multiply(const Array& a, double b) { return multiply(a, Array::scalar(b, a.dtype())); }
Array operator+(const Array& a, const Array& b) { return add(a, b); }
Array operator-(const Array& a, const Array& b) { return subtract(a, b); }
Array operator*(const Array& a, const Array& b) { return multiply(a, b); }
Array operator/(const Array& a, const Array& b) { return divide(a, b); }

Array where(const Array& condition, const Array& a, const Array& b) {
  Shape shape = detail::broadcast_shapes(
      condition.shape(), detail::broadcast_shapes(a.shape(), b.shape(), "where"), "where");
  Dtype dtype = promote(a.dtype(), b.dtype());
  return build<Where>(shape, dtype,
                      {broadcast_to(astype(condition, Dtype::bool_), shape),
                       broadcast_to(astype(a, dtype), shape), broadcast_to(astype(b, dtype), shape)});
}

Array negative(const Array& a) { return unary(UnaryOp::negative, a, "negative"); }
Array abs(const Array& a) { return unary(UnaryOp::abs, a, "abs"); }
Array exp(const Array& a) { return unary(UnaryOp::exp, a, "exp"); }
Array log(const Array& a) { return unary(UnaryOp::log, a, "log"); }
Array sqrt(const Array& a) { return unary(UnaryOp::sqrt, a, "sqrt"); }
Array rsqrt(const Array& a) { return unary(UnaryOp::rsqrt, a, "rsqrt"); }
Array square(const Array& a) { return unary(UnaryOp::square, a, "square"); }
Array tanh(const Array& a) { return unary(UnaryOp::tanh, a, "tanh"); }
Array erf(const Array& a) { return unary(UnaryOp::erf, a, "erf"); }
Array sigmoid(const Array& a) { return unary(UnaryOp::sigmoid, a, "sigmoid"); }
Array relu(const Array& a) { return unary(UnaryOp::relu, a, "relu"); }
Array silu(const Array& a) { return unary(UnaryOp::silu, a, "silu"); }
Array gelu(const Array& a) { return unary(UnaryOp::gelu, a, "gelu"); }
Array gelu_tanh(const Array& a) { return unary(UnaryOp::gelu_tanh, a, "gelu_tanh"); }

}  // namespace tessera
