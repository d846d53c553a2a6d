// Unary, binary and select kernels. Inputs arrive broadcast to the output shape (stride-0 views),
// so one strided row walk serves every broadcasting pattern.
#include <algorithm>
#include <cmath>

#include "backend/cpu/strided.h"
#include "backend/cpu/unary_kernels.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// Integer unary ops (floats go through the vectorised cpu::unary_f32).
template <typename C>
inline C apply_unary(UnaryOp op, C x) {
  switch (op) {
    case UnaryOp::negative: return C(-x);
    case UnaryOp::abs: return x < C(0) ? C(-x) : x;
    case UnaryOp::square: return C(x * x);
    case UnaryOp::relu: return x > C(0) ? x : C(0);
    default: return x;  // the op builder admits no other op for integers
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
                             if constexpr (std::is_same_v<C, float>) {
                               // Vectorised float32 math; other layouts and 16-bit types go
                               // through a small float32 staging buffer.
                               if constexpr (std::is_same_v<T, float>) {
                                 if (st[1] == 1) return cpu::unary_f32(unary_op, px, po, n);
                               }
                               constexpr int64_t kChunk = 256;
                               float staged[kChunk];
                               for (int64_t begin = 0; begin < n; begin += kChunk) {
                                 int64_t len = std::min(kChunk, n - begin);
                                 for (int64_t i = 0; i < len; ++i) staged[i] = cpu::load(px[(begin + i) * st[1]]);
                                 cpu::unary_f32(unary_op, staged, staged, len);
                                 for (int64_t i = 0; i < len; ++i) po[begin + i] = cpu::store<T>(staged[i]);
                               }
                             } else {
                               for (int64_t i = 0; i < n; ++i)
                                 po[i] = cpu::store<T>(apply_unary<C>(unary_op, cpu::load(px[i * st[1]])));
                             }
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
                             if constexpr (std::is_same_v<T, float> && std::is_same_v<O, float>) {
                               return cpu::binary_f32(binary_op, pa, st[1], pb, st[2], po, n);
                             }
                             for (int64_t i = 0; i < n; ++i)
                               po[i] = cpu::store<O>(apply_binary<C>(binary_op, C(cpu::load(pa[i * st[1]])),
                                                                     C(cpu::load(pb[i * st[2]]))));
                           });
    };
    if (out.dtype() == Dtype::bool_)  // comparisons
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
