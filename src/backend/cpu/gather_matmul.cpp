// gather_matmul and gather_quantized_matmul on the CPU. The indices are on the host here, so rows
// are grouped by expert first: each active expert's weights are then read once for all of its
// rows, threads taking (expert, block of output features) tasks. Dense experts go through a
// float32 dot kernel (16 lane accumulators, vectorised per ISA); packed experts through the
// AVX-512 unpack-and-FMA kernel of quantized_matmul, or a dequantized tile elsewhere.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "backend/cpu/convert_kernels.h"
#include "backend/cpu/quantized_avx512.h"
#include "backend/cpu/quantized_kernels.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

namespace {

// Rows (flat positions in indices) grouped by expert: order[start[e] .. start[e + 1]) are the
// rows of expert e, in increasing order.
struct ExpertRows {
  std::vector<int64_t> order, start;
};
ExpertRows group_rows(const Array& indices, int64_t experts, const char* op) {
  std::vector<int32_t> idx = indices.to_vector<int32_t>();
  ExpertRows g{std::vector<int64_t>(idx.size()), std::vector<int64_t>(size_t(experts) + 1, 0)};
  for (int32_t e : idx) {
    if (e < 0 || e >= experts)
      fail(op, "index " + std::to_string(e) + " out of range for " + std::to_string(experts) + " experts");
    ++g.start[size_t(e) + 1];
  }
  for (int64_t e = 0; e < experts; ++e) g.start[size_t(e) + 1] += g.start[size_t(e)];
  std::vector<int64_t> next(g.start.begin(), g.start.end() - 1);
  for (size_t r = 0; r < idx.size(); ++r) g.order[size_t(next[size_t(idx[r])]++)] = int64_t(r);
  return g;
}

// An expert's block of output features [n0, n1).
struct Task {
  int64_t expert, n0, n1;
};
std::vector<Task> make_tasks(const ExpertRows& g, int64_t out) {
  std::vector<int64_t> active;
  for (size_t e = 0; e + 1 < g.start.size(); ++e)
    if (g.start[e + 1] > g.start[e]) active.push_back(int64_t(e));
  // About four tasks per thread over all active experts, in blocks of 16 features.
  const int64_t threads = omp_get_max_threads();
  const int64_t per_expert = std::max<int64_t>(1, (4 * threads + int64_t(active.size()) - 1) / std::max<size_t>(active.size(), 1));
  int64_t block = (out + per_expert - 1) / per_expert;
  block = std::max<int64_t>(16, (block + 15) / 16 * 16);
  std::vector<Task> tasks;
  for (int64_t e : active)
    for (int64_t n0 = 0; n0 < out; n0 += block) tasks.push_back({e, n0, std::min(out, n0 + block)});
  return tasks;
}

// sum_i a[i] * b[i] in float32 with 16 independent partial sums (so the loop vectorises).
TESSERA_SIMD float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  float total = 0;
  for (int l = 0; l < 16; ++l) total += acc[l];
  return total + tail;
}

// A row of 16-bit weights as float32 (float32 rows are used in place).
template <typename W>
const float* row_as_float(const W* w, int64_t k, std::vector<float>& buffer) {
  if constexpr (std::is_same_v<W, float>) {
    return w;
  } else {
    buffer.resize(size_t(k));
    if constexpr (std::is_same_v<W, bfloat16>)
      cpu::bfloat16_to_float(w, buffer.data(), k);
    else
      for (int64_t i = 0; i < k; ++i) buffer[size_t(i)] = to_float(w[i]);
    return buffer.data();
  }
}

// Runs fn(task, thread-local scratch) over the tasks, in parallel when there is enough work.
template <typename Fn>
void run_tasks(const std::vector<Task>& tasks, int64_t work, Fn fn) {
#pragma omp parallel if (work >= cpu::kParallelThreshold && tasks.size() > 1)
  {
    std::vector<float> scratch;
#pragma omp for schedule(dynamic)
    for (size_t t = 0; t < tasks.size(); ++t) fn(tasks[t], scratch);
  }
}

// Which row of x feeds row r of the result: rows of x are shared by `repeat` consecutive indices.
int64_t repeat_of(const Array& x, const Array& indices) {
  const int64_t x_rows = x.size() / std::max<int64_t>(x.shape(-1), 1);
  return x_rows == 0 ? 1 : std::max<int64_t>(1, indices.size() / x_rows);
}

// What storing v in `dtype` and reading it back gives (the separate ops round there).
float round_to(Dtype dtype, float v) {
  switch (dtype) {
    case Dtype::float16: return to_float(to_float16(v));
    case Dtype::bfloat16: return to_float(to_bfloat16(v));
    default: return v;
  }
}

float activate(Activation a, float x) {
  switch (a) {
    case Activation::silu: return x / (1.0f + std::exp(-x));
    case Activation::gelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
    case Activation::gelu_tanh: return 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case Activation::relu: return x > 0.0f ? x : 0.0f;
    case Activation::tanh: return std::tanh(x);
    case Activation::none: break;
  }
  return x;
}

// The epilogues on the plain products p [rows, n]: glu(gate) * up, then the weighted sum over
// each index row's `ranks` rows; c [tokens, out features]. Rounded where the separate ops would.
void epilogue(const float* p, int64_t n, Activation glu, const float* weights, int64_t ranks, Dtype dtype,
              int64_t tokens, float* c) {
  const int64_t width = glu == Activation::none ? n : n / 2;
  const int64_t ranks_per_token = weights ? ranks : 1;
#pragma omp parallel for schedule(static) if (tokens * ranks_per_token * width >= cpu::kParallelThreshold)
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t f = 0; f < width; ++f) {
      float total = 0.0f;
      for (int64_t r = 0; r < ranks_per_token; ++r) {
        const float* row = p + (t * ranks_per_token + r) * n;
        float v = row[f];
        if (glu != Activation::none)
          v = round_to(dtype, round_to(dtype, activate(glu, round_to(dtype, v))) * round_to(dtype, row[width + f]));
        total = weights ? total + round_to(dtype, round_to(dtype, v) * weights[t * ranks + r]) : v;
      }
      c[t * width + f] = total;
    }
}

// Runs products(p) to fill the plain products [rows, n] (p zeroed when there are no input
// features), then the epilogues into `out`.
template <typename Products>
void gather_result(Array& out, const std::vector<Array>& inputs, size_t indices_input, int64_t n, int64_t k,
                   Activation glu, bool weighted, Products products) {
  const Array& indices = inputs[indices_input];
  const int64_t rows = indices.size();
  cpu::write_float32_result(out, [&](float* c) {
    const bool plain = glu == Activation::none && !weighted;
    std::vector<float> scratch;
    float* p = c;
    if (!plain) {
      scratch.resize(size_t(rows * n));
      p = scratch.data();
    }
    if (k == 0)
      std::fill(p, p + rows * n, 0.0f);
    else if (rows > 0)
      products(p);
    if (plain) return;
    std::optional<cpu::Float32View> weights;
    if (weighted) weights = cpu::as_float32(inputs[indices_input + 1]);
    const int64_t width = glu == Activation::none ? n : n / 2;
    epilogue(p, n, glu, weights ? weights->data : nullptr, indices.shape(-1), out.dtype(), out.size() / std::max<int64_t>(width, 1), c);
  });
}

}  // namespace

void GatherMatmul::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array &x = inputs[0], &w = inputs[1], &indices = inputs[2];
  const int64_t experts = w.shape(0), n = w.shape(1), k = w.shape(2), repeat = repeat_of(x, indices);
  ExpertRows g = group_rows(indices, experts, "gather_matmul");
  gather_result(out, inputs, 2, n, k, glu, weighted, [&](float* c) {
    cpu::Float32View xf = cpu::as_float32(x);
    std::vector<Task> tasks = make_tasks(g, n);
    dispatch_dtype(w.dtype(), [&](auto type) {
      using W = decltype(type);
      if constexpr (std::is_same_v<W, float> || std::is_same_v<W, bfloat16> || std::is_same_v<W, float16>) {
        std::vector<W> copy;  // experts that are not row-major are copied once
        const W* wd = cpu::host_data<W>(w);
        if (!w.is_contiguous()) {
          copy.resize(size_t(w.size()));
          cpu::copy_to_contiguous(w, copy.data(), w.dtype());
          wd = copy.data();
        }
        run_tasks(tasks, indices.size() * n * k, [&](const Task& t, std::vector<float>& scratch) {
          const int64_t* rows = g.order.data() + g.start[size_t(t.expert)];
          const int64_t count = g.start[size_t(t.expert) + 1] - g.start[size_t(t.expert)];
          for (int64_t j = t.n0; j < t.n1; ++j) {
            const float* wr = row_as_float(wd + (t.expert * n + j) * k, k, scratch);
            for (int64_t i = 0; i < count; ++i) c[rows[i] * n + j] = dot_f32(xf.data + rows[i] / repeat * k, wr, k);
          }
        });
      }
    });
  });
}

void GatherQuantizedMatmul::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array &x = inputs[0], &w = inputs[1], &indices = inputs[4];
  const int64_t experts = w.shape(0), n = w.shape(1), k = w.shape(2) * 32 / bits, repeat = repeat_of(x, indices);
  const int64_t words_per_row = w.shape(2), groups_per_row = k / group_size;
  ExpertRows g = group_rows(indices, experts, "gather_quantized_matmul");
  gather_result(out, inputs, 4, n, k, glu, weighted, [&](float* c) {
    std::vector<uint32_t> word_copy;
    const uint32_t* words = cpu::host_data<uint32_t>(w);
    if (!w.is_contiguous()) {
      word_copy.resize(size_t(w.size()));
      cpu::copy_to_contiguous(w, word_copy.data(), Dtype::uint32);
      words = word_copy.data();
    }
    // float32 scales and biases: as stored when they are, else those of the active experts
    // converted (a decode step touches few of them); strided ones are copied whole.
    const int64_t params = n * groups_per_row;
    std::vector<int64_t> slot(size_t(experts), -1);  // an active expert's place in `converted`
    int64_t active = 0;
    for (int64_t e = 0; e < experts; ++e)
      if (g.start[size_t(e) + 1] > g.start[size_t(e)]) slot[size_t(e)] = active++;
    std::vector<float> converted[2];
    std::optional<cpu::Float32View> whole[2];
    for (int which = 0; which < 2; ++which) {
      const Array& a = inputs[2 + which];
      if (!a.is_contiguous() || a.dtype() == Dtype::float32) {
        whole[which] = cpu::as_float32(a);
        continue;
      }
      converted[which].resize(size_t(active * params));
      dispatch_dtype(a.dtype(), [&](auto type) {
        using S = decltype(type);
        if constexpr (std::is_same_v<S, bfloat16> || std::is_same_v<S, float16>) {
          const S* src = cpu::host_data<S>(a);
          for (int64_t e = 0; e < experts; ++e) {
            if (slot[size_t(e)] < 0) continue;
            float* dst = converted[which].data() + slot[size_t(e)] * params;
            if constexpr (std::is_same_v<S, bfloat16>)
              cpu::bfloat16_to_float(src + e * params, dst, params);
            else
              for (int64_t i = 0; i < params; ++i) dst[i] = to_float(src[e * params + i]);
          }
        }
      });
    }
    auto expert_params = [&](int which, int64_t e) {
      return whole[which] ? whole[which]->data + e * params : converted[which].data() + slot[size_t(e)] * params;
    };
    // x's rows in grouped order, contiguous per expert (the fused kernel reads rows back to back),
    // and the results in the same order, scattered at the end.
    cpu::Float32View xf = cpu::as_float32(x);
    const int64_t total = int64_t(g.order.size());
    std::vector<float> xg(size_t(total * k)), cg(size_t(total * n));
    for (int64_t i = 0; i < total; ++i)
      std::copy_n(xf.data + g.order[size_t(i)] / repeat * k, k, xg.data() + i * k);
    std::vector<Task> tasks = make_tasks(g, n);
    const bool fused = cpu::has_avx512() && group_size % 16 == 0;
    run_tasks(tasks, total * n * k, [&](const Task& t, std::vector<float>& tile) {
      const int64_t first = g.start[size_t(t.expert)], count = g.start[size_t(t.expert) + 1] - first;
      cpu::PackedMatrix m{words + t.expert * n * words_per_row, expert_params(0, t.expert), expert_params(1, t.expert),
                          k, group_size, bits};
      if (fused) {
        for (int64_t r = 0; r < count; r += cpu::kFusedRows)
          cpu::quantized_gemv_avx512(xg.data() + (first + r) * k, std::min(cpu::kFusedRows, count - r), m, t.n0, t.n1,
                                     cg.data() + (first + r) * n, n);
        return;
      }
      const int64_t cols = t.n1 - t.n0;
      tile.resize(size_t(cols * k));
      cpu::dequantize_window(m, t.n0, cols, 0, k, tile.data(), k);
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t r = 0; r < count; ++r)
          cg[size_t((first + r) * n + t.n0 + j)] = dot_f32(xg.data() + (first + r) * k, tile.data() + j * k, k);
    });
    for (int64_t i = 0; i < total; ++i) std::copy_n(cg.data() + i * n, n, c + g.order[size_t(i)] * n);
  });
}

}  // namespace tessera
