// quantized_matmul with bfloat16 activations on oneDNN's AMX bfloat16 matmul.
//
// The earlier path dequantized ~1 MB tiles of W into plain bfloat16 and called
// dnnl_gemm_bf16bf16f32 on each: that BLAS-like entry point packs both operands again on every
// call (all of x once per tile) and, in the oneDNN 2.6 we link, runs AVX512-BF16 rather than
// AMX; bert-base 8x128 took ~610 ms against ~220-340 ms for dense bfloat16 weights on the
// packed matmul primitive (onednn_linear.cpp). Here:
//
// - Output columns are split into panels of whole 64-column blocks, at most ~1 MB of bfloat16
//   weights each (L2), their count a multiple of the threads. Each thread dequantizes its panel
//   directly into oneDNN's blocked BA16a64b2a layout (quantized_avx512.cpp: one scatter per 32
//   weights), so the weights are unpacked once per call, amortised over all M rows, and never
//   exist whole in bfloat16 (the panel buffer is per thread and reused).
// - The matmul primitive is created with that layout fixed (not `any`) and for one thread (the
//   threads work on different panels; oneDNN run inside an OpenMP region runs on the calling
//   thread alone, and its AMX kernel splits work by the thread count fixed at creation, so a
//   primitive created for two threads would compute half the output there). Creation, cached
//   per (M, panel width, K, bias, activation), happens before the parallel region.
// - The bias and the activation are post-ops in float32 before the single rounding to
//   bfloat16, as for dense Linears. oneDNN 2.6 runs the AMX kernel only for a dense
//   destination, so a panel's [M, cols] result goes to a per-thread scratch and is copied into
//   its columns of out (a ~2% pass, cache-resident), except when one panel covers all of N.
//
// Each weight is scale * q + bias in float32 rounded once to bfloat16 (the rounding a dense
// bfloat16 weight also has); the products accumulate in float32.
#include "backend/cpu/quantized_onednn.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "backend/cpu/onednn_layout.h"
#include "backend/cpu/quantized_avx512.h"
#include "tessera/buffer.h"

namespace tessera::cpu {

namespace {

using dnnl::memory;

struct PanelKey {
  int64_t m, cols, k;
  bool has_bias;
  Activation activation;
  bool operator<(const PanelKey& o) const {
    return std::tie(m, cols, k, has_bias, activation) < std::tie(o.m, o.cols, o.k, o.has_bias, o.activation);
  }
};

struct PanelPrimitive {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
  bool usable;  // an AMX (brgemm) kernel that reads exactly the layout we write
};

std::shared_ptr<const PanelPrimitive> primitive_for(const PanelKey& key) {
  static std::mutex mutex;
  static std::map<PanelKey, std::shared_ptr<const PanelPrimitive>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 4096) cache.clear();  // many distinct token counts: start over

  const memory::desc src({key.m, key.k}, memory::data_type::bf16, memory::dims{key.k, 1});
  const memory::desc weights({key.k, key.cols}, memory::data_type::bf16, memory::format_tag::BA16a64b2a);
  const memory::desc dst({key.m, key.cols}, memory::data_type::bf16, memory::dims{key.cols, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  append_onednn_activation(ops, key.activation);
  attr.set_post_ops(ops);
  auto desc = key.has_bias ? dnnl::matmul::desc(src, weights,
                                                memory::desc({1, key.cols}, memory::data_type::f32,
                                                             memory::dims{key.cols, 1}),
                                                dst)
                           : dnnl::matmul::desc(src, weights, dst);
  // One thread: oneDNN (OpenMP runtime) sizes the kernel's work split by omp_get_max_threads()
  // at creation; the panels run one per thread.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::shared_ptr<const PanelPrimitive> cached;
  try {
    dnnl::matmul::primitive_desc pd(desc, attr, onednn_cpu_engine());
    const bool usable = std::string(pd.impl_info_str()).rfind("brg", 0) == 0 && pd.weights_desc() == weights;
    cached = std::make_shared<const PanelPrimitive>(
        PanelPrimitive{pd, usable ? dnnl::matmul(pd) : dnnl::matmul(), usable});
  } catch (const dnnl::error&) {  // no implementation at all for this layout
    cached = std::make_shared<const PanelPrimitive>(PanelPrimitive{{}, {}, false});
  }
  omp_set_num_threads(threads);
  cache.emplace(key, cached);
  return cached;
}

// Panel width: whole 64-column blocks, at most ~1 MB of bfloat16 weights (a panel, reused by
// every row block, stays in L2), and a panel count that is a multiple of the threads where the
// blocks allow (threads finish together).
int64_t panel_columns(int64_t n, int64_t k, int64_t threads) {
  const int64_t blocks = n / 64;
  const int64_t max_blocks = std::max<int64_t>(1, (int64_t(1) << 20) / (k * 64 * 2));
  int64_t panels = threads;
  while ((blocks + panels - 1) / panels > max_blocks) panels += threads;
  panels = std::min(panels, blocks);
  return (blocks + panels - 1) / panels * 64;
}

}  // namespace

bool quantized_linear_bf16(const bfloat16* x, int64_t m, const PackedMatrix& w, int64_t n,
                           const float* bias, Activation activation, bfloat16* out) {
  const int64_t k = w.cols;
  static const bool native_bf16 = __builtin_cpu_supports("avx512bf16");
  if (!native_bf16 || !has_avx512() || m <= 0 || n <= 0 || n % 64 != 0 || k <= 0 || k % 32 != 0) return false;
  const int64_t threads = omp_get_max_threads();
  const int64_t cols = panel_columns(n, k, threads);
  const int64_t panels = (n + cols - 1) / cols, last = n - (panels - 1) * cols;
  // [last panel?]: two widths at most.
  std::shared_ptr<const PanelPrimitive> prims[2];
  for (int c = 0; c < 2; ++c) {
    prims[c] = primitive_for({m, c ? last : cols, k, bias != nullptr, activation});
    if (!prims[c]->usable) return false;
  }

  const int64_t workers = std::min(threads, panels);
  size_t scratch_bytes = 0;
  for (auto& prim : prims) scratch_bytes = std::max(scratch_bytes, prim->pd.scratchpad_desc().get_size());
  const size_t scratch_stride = (scratch_bytes + 63) / 64 * 64;
  // Per worker: the oneDNN scratchpad and, unless one panel is all of N, the panel's result.
  const size_t result_stride = panels == 1 ? 0 : size_t(m * cols) * sizeof(bfloat16);
  std::shared_ptr<Buffer> scratch = Buffer::allocate_host(std::max<size_t>(workers * (scratch_stride + result_stride), 1));
  char* scratch_base = static_cast<char*>(scratch->mutable_host());

#pragma omp parallel num_threads(int(workers))
  {
    // The dequantized panel (K x cols bfloat16, <= ~1 MB) is kept per thread across calls.
    // 64-byte aligned: the AMX kernel loads 64-byte rows of it (a std::vector's large blocks
    // start 16 bytes into a page).
    struct AlignedPanel {
      bfloat16* data = nullptr;
      size_t size = 0;
      ~AlignedPanel() { std::free(data); }
    };
    thread_local AlignedPanel panel;
    if (panel.size < size_t(k * cols)) {
      std::free(panel.data);
      panel.size = size_t(k * cols);
      panel.data = static_cast<bfloat16*>(std::aligned_alloc(64, (panel.size * sizeof(bfloat16) + 63) / 64 * 64));
    }
    char* mine = scratch_base + size_t(omp_get_thread_num()) * (scratch_stride + result_stride);
    bfloat16* result = reinterpret_cast<bfloat16*>(mine + scratch_stride);
    dnnl::engine& engine = onednn_cpu_engine();
    dnnl::stream stream(engine);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t n0 = p * cols, width = std::min(cols, n - n0);
      dequantize_panel_ba16a64b2a(w, n0, width, panel.data);
      const PanelPrimitive& prim = *prims[width != cols];
      bfloat16* dst = panels == 1 ? out : result;
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, memory(prim.pd.src_desc(), engine, const_cast<bfloat16*>(x))},
          {DNNL_ARG_WEIGHTS, memory(prim.pd.weights_desc(), engine, panel.data)},
          {DNNL_ARG_DST, memory(prim.pd.dst_desc(), engine, dst)},
          {DNNL_ARG_SCRATCHPAD, memory(prim.pd.scratchpad_desc(), engine, mine)}};
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(prim.pd.bias_desc(), engine, const_cast<float*>(bias + n0)));
      prim.primitive.execute(stream, args);
      stream.wait();
      if (dst != out)
        for (int64_t r = 0; r < m; ++r)
          std::memcpy(out + r * n + n0, result + r * width, size_t(width) * sizeof(bfloat16));
    }
  }
  return true;
}

}  // namespace tessera::cpu
