// Reductions: one warp per output element (argmax over long rows: a block). The kept dims and the reduced dims each get a strided
// layout over the input, so any set of axes (strided or broadcast input) is one kernel.
#include <cfloat>

#include "backend/cuda/device_types.cuh"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

struct ReductionLayouts {
  StridedLayout<1> outputs;  // input offset of each output's first element
  StridedLayout<1> reduced;  // offsets within one output's block
  int64_t output_count, reduced_count;
};

ReductionLayouts plan(const Array& in, const std::vector<int>& axes) {
  Shape kept = in.shape(), reduced_shape;
  Strides kept_strides = in.strides(), reduced_strides;
  for (int ax : axes) {
    reduced_shape.push_back(in.shape()[size_t(ax)]);
    reduced_strides.push_back(in.strides()[size_t(ax)]);
    kept[size_t(ax)] = 1;
  }
  return {make_layout<1>(kept, {&kept_strides}), make_layout<1>(reduced_shape, {&reduced_strides}), numel(kept),
          numel(reduced_shape)};
}

// Sums in double (floats) or int64 (integers) so long rows stay exact, as the CPU kernel.
template <typename T>
using accumulator_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, int64_t>;

template <typename A>
__device__ __forceinline__ A shuffle_xor(A v, int offset) {
  return __shfl_xor_sync(0xffffffffu, v, offset);
}

template <typename T, typename Out>
__global__ void reduce_kernel(const T* x, Out* out, ReductionLayouts layouts, ReduceOp op) {
  using A = accumulator_t<T>;
  int64_t o = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (o >= layouts.output_count) return;
  int64_t base[1];
  layouts.outputs.offsets(o, base);
  bool is_sum = op == ReduceOp::sum || op == ReduceOp::mean, is_max = op == ReduceOp::max;
  A acc;
  if (is_sum)
    acc = A(0);
  else if constexpr (std::is_same_v<A, double>)
    acc = is_max ? -INFINITY : INFINITY;
  else
    acc = is_max ? INT64_MIN : INT64_MAX;
  bool nan = false;
  for (int64_t r = lane; r < layouts.reduced_count; r += 32) {
    int64_t off[1];
    layouts.reduced.offsets(r, off);
    A v = A(load(x[base[0] + off[0]]));
    if constexpr (std::is_same_v<A, double>) nan |= isnan(v);
    acc = is_sum ? acc + v : is_max ? (v > acc ? v : acc) : (v < acc ? v : acc);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    A other = shuffle_xor(acc, offset);
    acc = is_sum ? acc + other : is_max ? (other > acc ? other : acc) : (other < acc ? other : acc);
  }
  nan = __any_sync(0xffffffffu, nan);
  if (lane != 0) return;
  if (op == ReduceOp::mean) {
    out[o] = store<Out>(double(acc) / double(layouts.reduced_count));
  } else if constexpr (std::is_same_v<A, double>) {
    out[o] = store<Out>(nan && !is_sum ? NAN : acc);  // NaN propagates through max/min
  } else {
    out[o] = store<Out>(acc);
  }
}

// (value, index) pairs: the larger value wins, then the lower index, so the first maximum is
// reported. Empty pairs carry index INT64_MAX.
struct ArgBest {
  double value;
  int64_t index;
  __device__ void merge(double other, int64_t other_index) {
    bool take = other_index != INT64_MAX &&
                (index == INT64_MAX || other > value || (other == value && other_index < index));
    if (take) {
      value = other;
      index = other_index;
    }
  }
};

// Team threads per output: a warp (8 outputs a block) for many short rows, or a whole block of
// kArgmaxBlock threads for a few long ones (a decode step's argmax over a 128k vocabulary: one
// warp walking it took ~260 µs).
constexpr int kArgmaxBlock = 1024;

template <typename T, int Team>
__global__ void argmax_kernel(const T* x, int32_t* out, ReductionLayouts layouts) {
  constexpr int kTeamsPerBlock = Team == 32 ? kWarpsPerBlock : 1;
  int64_t o = int64_t(blockIdx.x) * kTeamsPerBlock + threadIdx.x / Team;
  int member = threadIdx.x % Team, lane = threadIdx.x % 32;
  if (o >= layouts.output_count) return;  // whole teams leave together
  int64_t base[1];
  layouts.outputs.offsets(o, base);
  ArgBest best{-INFINITY, INT64_MAX};
  for (int64_t r = member; r < layouts.reduced_count; r += Team) {
    int64_t off[1];
    layouts.reduced.offsets(r, off);
    best.merge(double(load(x[base[0] + off[0]])), r);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) best.merge(shuffle_xor(best.value, offset), shuffle_xor(best.index, offset));
  if constexpr (Team > 32) {
    __shared__ double values[Team / 32];
    __shared__ int64_t indices[Team / 32];
    if (lane == 0) {
      values[member / 32] = best.value;
      indices[member / 32] = best.index;
    }
    __syncthreads();
    if (member >= 32) return;
    best = {-INFINITY, INT64_MAX};
    for (int w = lane; w < Team / 32; w += 32) best.merge(values[w], indices[w]);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
      best.merge(shuffle_xor(best.value, offset), shuffle_xor(best.index, offset));
  }
  if (member == 0) out[o] = int32_t(best.index);
}

unsigned warp_blocks(int64_t outputs) { return unsigned((outputs + kWarpsPerBlock - 1) / kWarpsPerBlock); }

}  // namespace

}  // namespace cuda

void Reduce::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("reduce");
  const Array& in = inputs[0];
  cuda::ReductionLayouts layouts = cuda::plan(in, axes);
  cuda::dispatch_device_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    auto run = [&](auto out_type) {
      using Out = decltype(out_type);
      Out* o = cuda::allocate_output<Out>(out);
      if (layouts.output_count == 0) return;
      cuda::reduce_kernel<T, Out><<<cuda::warp_blocks(layouts.output_count), cuda::kWarpsPerBlock * 32, 0,
                                    cuda::stream()>>>(cuda::device_data<T>(in), o, layouts, op);
      cuda::check_launch("reduce");
    };
    // The output keeps the input dtype except the mean of integers, which is float32.
    if (out.dtype() == in.dtype())
      run(T{});
    else
      run(float{});
  });
}

void ArgMax::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope("argmax");
  const Array& in = inputs[0];
  cuda::ReductionLayouts layouts = cuda::plan(in, {axis});
  int32_t* o = cuda::allocate_output<int32_t>(out);
  if (layouts.output_count == 0) return;
  cuda::dispatch_device_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* x = cuda::device_data<T>(in);
    if (layouts.reduced_count >= 8 * cuda::kArgmaxBlock)
      cuda::argmax_kernel<T, cuda::kArgmaxBlock>
          <<<unsigned(layouts.output_count), cuda::kArgmaxBlock, 0, cuda::stream()>>>(x, o, layouts);
    else
      cuda::argmax_kernel<T, 32>
          <<<cuda::warp_blocks(layouts.output_count), cuda::kWarpsPerBlock * 32, 0, cuda::stream()>>>(x, o, layouts);
    cuda::check_launch("argmax");
  });
}

}  // namespace tessera
