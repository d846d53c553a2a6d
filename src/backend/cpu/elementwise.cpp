// Unary, binary and select kernels. Inputs arrive broadcast to the output shape (stride-0 views),
// so one strided row walk serves every broadcasting pattern.
#include <cmath>

#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

template <typename C>
inline C apply_unary(UnaryOp op, C x) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case UnaryOp::negative: return -x;
      case UnaryOp::abs: return std::abs(x);
      case UnaryOp::exp: return std::exp(x);
      case UnaryOp::log: return std::log(x);
      case UnaryOp::sqrt: return std::sqrt(x);
      case UnaryOp::rsqrt: return C(1) / std::sqrt(x);
      case UnaryOp::square: return x * x;
      case UnaryOp::tanh: return std::tanh(x);
      case UnaryOp::erf: return std::erf(x);
      case UnaryOp::sigmoid: return C(1) / (C(1) + std::exp(-x));
      case UnaryOp::relu: return x > C(0) ? x : C(0);
      case UnaryOp::silu: return x / (C(1) + std::exp(-x));
      case UnaryOp::gelu: return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
      case UnaryOp::gelu_tanh: {
        const C k = C(0.79788456080286535588);  // sqrt(2/pi)
        return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
      }
    }
    return x;
  } else {  // integers: only the ops the builder admits
    switch (op) {
      case UnaryOp::negative: return C(-x);
      case UnaryOp::abs: return x < C(0) ? C(-x) : x;
      case UnaryOp::square: return C(x * x);
      case UnaryOp::relu: return x > C(0) ? x : C(0);
      default: return x;
    }
  }
}

template <typename C>
inline C apply_binary(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::subtract: return a - b;
    case BinaryOp::multiply: return a * b;
    case BinaryOp::divide:
      if constexpr (std::is_integral_v<C>) {
        if (b == 0) fail("divide", "integer division by zero");
      }
      return a / b;
    case BinaryOp::maximum: return a > b ? a : b;
    case BinaryOp::minimum: return a < b ? a : b;
    case BinaryOp::equal: return a == b;
    case BinaryOp::less: return a < b;
    case BinaryOp::greater: return a > b;
  }
  return a;
}

// For the row walk: output first, then the inputs.
template <size_t N>
std::array<Strides, N> operand_strides(const Array& out, const std::vector<Array>& inputs) {
  std::array<Strides, N> st;
  st[0] = out.strides();
  for (size_t k = 1; k < N; ++k) st[k] = inputs[k - 1].strides();
  return st;
}

}  // namespace

void Unary::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool>) {
      fail("unary", "not defined for bool");
    } else {
      using C = cpu::compute_t<T>;
      T* o = static_cast<T*>(out.buffer()->mutable_host());
      const T* x = cpu::host_data<T>(inputs[0]);
      UnaryOp unary_op = op;
      cpu::for_each_row<2>(out.shape(), operand_strides<2>(out, inputs),
                           [&](const auto& off, int64_t n, const auto& st) {
                             T* po = o + off[0];
                             const T* px = x + off[1];
                             for (int64_t i = 0; i < n; ++i)
                               po[i] = cpu::store<T>(apply_unary<C>(unary_op, cpu::load(px[i * st[1]])));
                           });
    }
  });
}

void Binary::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  dispatch_dtype(inputs[0].dtype(), [&](auto t) {
    using T = decltype(t);
    using C = std::conditional_t<std::is_same_v<T, bool>, int, cpu::compute_t<T>>;
    const T* a = cpu::host_data<T>(inputs[0]);
    const T* b = cpu::host_data<T>(inputs[1]);
    BinaryOp binary_op = op;
    auto run = [&](auto* o) {
      using O = std::remove_pointer_t<decltype(o)>;
      cpu::for_each_row<3>(out.shape(), operand_strides<3>(out, inputs),
                           [&](const auto& off, int64_t n, const auto& st) {
                             O* po = o + off[0];
                             const T* pa = a + off[1];
                             const T* pb = b + off[2];
                             for (int64_t i = 0; i < n; ++i)
                               po[i] = cpu::store<O>(apply_binary<C>(binary_op, C(cpu::load(pa[i * st[1]])),
                                                                     C(cpu::load(pb[i * st[2]]))));
                           });
    };
    if (out.dtype() == Dtype::bool_)
      run(static_cast<bool*>(out.buffer()->mutable_host()));
    else
      run(static_cast<T*>(out.buffer()->mutable_host()));
  });
}

void Where::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  out.allocate();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* o = static_cast<T*>(out.buffer()->mutable_host());
    const bool* c = cpu::host_data<bool>(inputs[0]);
    const T* a = cpu::host_data<T>(inputs[1]);
    const T* b = cpu::host_data<T>(inputs[2]);
    cpu::for_each_row<4>(out.shape(), operand_strides<4>(out, inputs),
                         [&](const auto& off, int64_t n, const auto& st) {
                           for (int64_t i = 0; i < n; ++i)
                             o[off[0] + i] = c[off[1] + i * st[1]] ? a[off[2] + i * st[2]]
                                                                   : b[off[3] + i * st[3]];
                         });
  });
}

}  // namespace tessera
