// Linear layers on oneDNN's matmul primitive.
//
// Why not the BLAS-like dnnl_sgemm / dnnl_gemm_bf16bf16f32 that matmul uses: those re-pack the
// weight into the kernel's blocked layout on every call, a full pass over 2.4-9.4 MB per layer
// that costs 10-40% of a BERT layer at 128 tokens (docs/benchmarks.md, "CPU GEMM library
// choice"). Weights of a Linear layer never change, so here they are packed once:
//
// - A primitive is created once per (M, N, K, dtype, bias, activation, threads) and cached; its
//   weights memory descriptor is `format_tag::any`, so oneDNN picks the blocked layout its
//   kernel (brgemm: AVX-512 for float32, AMX for bfloat16) reads fastest.
// - The weight is reordered into that layout once and the packed copy is kept as a prepared
//   form of the weight's Buffer (Buffer::prepared), keyed by the layout and the view of the
//   buffer it came from: it lives exactly as long as the weight, needs no global cache keyed by
//   pointers that could be reused, and shapes whose kernels choose the same layout share it.
// - The bias and the activation are post-ops, applied in float32 before the single rounding to
//   the output dtype.
// - The scratchpad is ours (user mode), taken from the host block cache per call, so the cached
//   primitives can run from several threads at once.
#include "backend/cpu/onednn_linear.h"

#include <omp.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "backend/cpu/onednn_layout.h"
#include "backend/cpu/strided.h"

namespace tessera::cpu {

namespace {

using dnnl::memory;

memory::data_type onednn_type(Dtype dtype) {
  return dtype == Dtype::bfloat16 ? memory::data_type::bf16 : memory::data_type::f32;
}

struct PrimitiveKey {
  int64_t m, n, k;
  Dtype dtype;
  bool has_bias;
  Activation activation;
  int threads;  // oneDNN sizes its work split for the threads it sees at creation
  bool operator<(const PrimitiveKey& o) const {
    return std::tie(m, n, k, dtype, has_bias, activation, threads) <
           std::tie(o.m, o.n, o.k, o.dtype, o.has_bias, o.activation, o.threads);
  }
};

struct CachedPrimitive {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
  bool usable;  // false when oneDNN has only its (slow) reference implementation
};

std::shared_ptr<const CachedPrimitive> primitive_for(const PrimitiveKey& key) {
  static std::mutex mutex;
  static std::map<PrimitiveKey, std::shared_ptr<const CachedPrimitive>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 4096) cache.clear();  // many distinct token counts: start over

  const memory::data_type type = onednn_type(key.dtype);
  const memory::desc src({key.m, key.k}, type, memory::dims{key.k, 1});
  const memory::desc weights({key.k, key.n}, type, memory::format_tag::any);
  const memory::desc dst({key.m, key.n}, type, memory::dims{key.n, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  append_onednn_activation(ops, key.activation);
  attr.set_post_ops(ops);
  auto desc =
      key.has_bias
          ? dnnl::matmul::desc(
                src, weights,
                memory::desc({1, key.n}, memory::data_type::f32, memory::dims{key.n, 1}), dst)
          : dnnl::matmul::desc(src, weights, dst);
  dnnl::matmul::primitive_desc pd(desc, attr, onednn_cpu_engine());
  bool usable = std::string(pd.impl_info_str()).rfind("ref", 0) != 0;
  auto cached = std::make_shared<const CachedPrimitive>(
      CachedPrimitive{pd, usable ? dnnl::matmul(pd) : dnnl::matmul(), usable});
  cache.emplace(key, cached);
  return cached;
}

// Names a weight layout and the view of the buffer it packs, so one buffer can hold packed
// forms of several views (a checkpoint file's region) or layouts (kernels chosen per M).
std::string packed_form_key(const memory::desc& md, const Array& weight) {
  return "onednn-weights" + onednn_layout_key(md) + " view " + std::to_string(weight.offset()) + "/" +
         std::to_string(weight.strides()[0]) + "/" + to_string(weight.shape());
}

}  // namespace

dnnl::engine& onednn_cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void append_onednn_activation(dnnl::post_ops& ops, Activation activation) {
  switch (activation) {
    case Activation::none:
      return;
    case Activation::gelu:
      return ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    case Activation::gelu_tanh:
      return ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f);
    case Activation::relu:
      return ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    case Activation::silu:
      return ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
    case Activation::tanh:
      return ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_tanh, 0.0f, 0.0f);
  }
}

std::string onednn_layout_key(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  std::string key = " t" + std::to_string(int(d.data_type)) + " d";
  for (int i = 0; i < d.ndims; ++i) key += std::to_string(d.padded_dims[i]) + ",";
  key += " f" + std::to_string(int(d.format_kind));
  if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    key += " s";
    for (int i = 0; i < d.ndims; ++i) key += std::to_string(b.strides[i]) + ",";
    key += " b";
    for (int i = 0; i < b.inner_nblks; ++i)
      key += std::to_string(b.inner_blks[i]) + ":" + std::to_string(b.inner_idxs[i]) + ",";
  }
  key += " x" + std::to_string(d.extra.flags) + "/" + std::to_string(d.extra.compensation_mask);
  return key;
}

bool onednn_linear_supports(Dtype dtype, const Array& weight) {
  // TESSERA_PACKED_LINEAR=0 keeps every layer on the generic path: A/B measurements in one build.
  static const bool enabled = [] {
    const char* v = std::getenv("TESSERA_PACKED_LINEAR");
    return !v || std::string(v) != "0";
  }();
  return enabled && (dtype == Dtype::float32 || dtype == Dtype::bfloat16) &&
         weight.dtype() == dtype && weight.ndim() == 2 && weight.shape(1) > 0 &&
         weight.shape(0) > 0 && (weight.strides()[1] == 1 || weight.shape(1) == 1) &&
         weight.strides()[0] >= weight.shape(1);
}

bool onednn_linear(Dtype dtype, const void* x, int64_t m, int64_t k, const Array& weight,
                   const float* bias, Activation activation, void* out) {
  const int64_t n = weight.shape(0);
  auto cached = primitive_for({m, n, k, dtype, bias != nullptr, activation, omp_get_max_threads()});
  if (!cached->usable) return false;
  const dnnl::matmul::primitive_desc& pd = cached->pd;
  dnnl::engine& engine = onednn_cpu_engine();

  // W^T [K, N] read in place from W [N, K]: unit stride along K, the row stride along N.
  const memory::desc plain_md({k, n}, onednn_type(dtype), memory::dims{1, weight.strides()[0]});
  void* weight_data = const_cast<void*>(static_cast<const void*>(
      static_cast<const char*>(weight.buffer()->host()) + weight.offset() * itemsize(dtype)));
  memory weights;
  if (pd.weights_desc() == plain_md) {  // the kernel reads the plain layout: nothing to pack
    weights = memory(plain_md, engine, weight_data);
  } else {
    Buffer::PreparedForm form =
        weight.buffer()->prepared(packed_form_key(pd.weights_desc(), weight), [&] {
          auto packed = std::make_shared<memory>(pd.weights_desc(), engine);
          memory plain(plain_md, engine, weight_data);
          dnnl::stream stream(engine);
          dnnl::reorder(plain, *packed).execute(stream, plain, *packed);
          stream.wait();
          return std::static_pointer_cast<const void>(packed);
        });
    weights = *static_cast<const memory*>(form.get());
  }

  std::shared_ptr<Buffer> scratchpad =
      Buffer::allocate_host(std::max<size_t>(pd.scratchpad_desc().get_size(), 1));
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(pd.src_desc(), engine, const_cast<void*>(x))},
      {DNNL_ARG_WEIGHTS, weights},
      {DNNL_ARG_DST, memory(pd.dst_desc(), engine, out)},
      {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine, scratchpad->mutable_host())}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), engine, const_cast<float*>(bias)));
  dnnl::stream stream(engine);
  cached->primitive.execute(stream, args);
  stream.wait();
  return true;
}

}  // namespace tessera::cpu
