// Reductions. The output keeps reduced axes as size-1 dims; each output element walks its
// reduced sub-block of the input with an odometer over the reduced axes.
#include <cmath>
#include <limits>

#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

struct ReductionPlan {
  Shape out_shape;           // kept shape
  Strides in_strides;        // input strides for each dim
  Shape reduced_shape;       // sizes of reduced axes
  Strides reduced_strides;   // their input strides
};

ReductionPlan plan(const Array& in, const std::vector<int>& axes) {
  ReductionPlan p;
  p.out_shape = in.shape();
  p.in_strides = in.strides();
  for (int ax : axes) {
    p.reduced_shape.push_back(in.shape()[size_t(ax)]);
    p.reduced_strides.push_back(in.strides()[size_t(ax)]);
    p.out_shape[size_t(ax)] = 1;
  }
  return p;
}

// Calls visit(base_offset_in_input, output_index) for every output element, in parallel.
template <typename Visit>
void for_each_output(const ReductionPlan& p, int64_t work_per_output, Visit visit) {
  int64_t outputs = numel(p.out_shape);
  auto one = [&](int64_t o) {
    int64_t rem = o, base = 0;
    for (int d = int(p.out_shape.size()) - 1; d >= 0; --d) {
      base += (rem % p.out_shape[size_t(d)]) * p.in_strides[size_t(d)];
      rem /= p.out_shape[size_t(d)];
    }
    visit(base, o);
  };
  if (outputs > 1 && outputs * work_per_output >= cpu::kParallelThreshold) {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < outputs; ++o) one(o);
  } else {
    for (int64_t o = 0; o < outputs; ++o) one(o);
  }
}

// Calls f(offset) for each element of the reduced block starting at base.
template <typename F>
inline void for_each_reduced(const ReductionPlan& p, int64_t base, F&& f) {
  size_t nd = p.reduced_shape.size();
  if (nd == 0) {
    f(base);
    return;
  }
  int64_t inner = p.reduced_shape[nd - 1], inner_stride = p.reduced_strides[nd - 1];
  int64_t outer = numel(p.reduced_shape) / std::max<int64_t>(inner, 1);
  std::vector<int64_t> idx(nd, 0);
  for (int64_t r = 0; r < outer; ++r) {
    int64_t off = base;
    for (size_t d = 0; d + 1 < nd; ++d) off += idx[d] * p.reduced_strides[d];
    for (int64_t i = 0; i < inner; ++i) f(off + i * inner_stride);
    for (int d = int(nd) - 2; d >= 0; --d) {
      if (++idx[size_t(d)] < p.reduced_shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
}

}  // namespace

void Reduce::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  out.allocate();
  ReductionPlan p = plan(in, axes);
  int64_t count = numel(p.reduced_shape);
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    // Sums accumulate in double (floats) or int64 (integers) so long rows stay exact.
    using Acc = std::conditional_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int64_t, double>;
    const T* x = cpu::host_data<T>(in);
    ReduceOp reduce_op = op;
    dispatch_dtype(out.dtype(), [&](auto u) {
      using O = decltype(u);
      O* o = static_cast<O*>(out.buffer()->mutable_host());
      for_each_output(p, count, [&](int64_t base, int64_t oi) {
        Acc acc;
        if (reduce_op == ReduceOp::sum || reduce_op == ReduceOp::mean) {
          acc = 0;
          for_each_reduced(p, base, [&](int64_t off) { acc += Acc(cpu::load(x[off])); });
          if (reduce_op == ReduceOp::mean) {
            o[oi] = from_double<O>(double(acc) / double(count));
            return;
          }
        } else {
          bool is_max = reduce_op == ReduceOp::max;
          acc = is_max ? std::numeric_limits<Acc>::lowest() : std::numeric_limits<Acc>::max();
          bool nan = false;
          for_each_reduced(p, base, [&](int64_t off) {
            Acc v = Acc(cpu::load(x[off]));
            if constexpr (std::is_floating_point_v<Acc>) nan |= std::isnan(v);  // NaN propagates
            acc = is_max ? std::max(acc, v) : std::min(acc, v);
          });
          if constexpr (std::is_floating_point_v<Acc>)
            if (nan) acc = std::numeric_limits<Acc>::quiet_NaN();
        }
        if constexpr (std::is_same_v<Acc, double>)
          o[oi] = from_double<O>(acc);
        else
          o[oi] = O(acc);
      });
    });
  });
}

void ArgMax::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& in = inputs[0];
  out.allocate();
  ReductionPlan p = plan(in, {axis});
  int64_t n = in.shape()[size_t(axis)];
  int64_t stride = in.strides()[size_t(axis)];
  int32_t* o = static_cast<int32_t*>(out.buffer()->mutable_host());
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* x = cpu::host_data<T>(in);
    for_each_output(p, n, [&](int64_t base, int64_t oi) {
      int64_t best = 0;
      auto best_v = cpu::load(x[base]);
      for (int64_t i = 1; i < n; ++i) {
        auto v = cpu::load(x[base + i * stride]);
        if (v > best_v) {
          best_v = v;
          best = i;
        }
      }
      o[oi] = int32_t(best);
    });
  });
}

}  // namespace tessera
