// In-stream time of a decode step's matrix-vector products on CUDA: each Llama-3-8B / OLMoE
// product shape (one row of x, bf16, dense or 4-bit), in its decode form (input norm, glu,
// residual as the decoder calls it), captured L times over distinct weights (no L2 reuse) in one
// CUDA graph and replayed: microseconds per product and the bandwidth its weight bytes imply.
// Nsight Compute times each kernel alone (serialised, caches flushed), and no Nsight Systems is on
// the lent machine, so this is how the products' cost inside a step is measured. A chain of tiny
// kernels gives the cost of a launch boundary in a replayed graph.
//
//   decode_kernels [--bits 0,4] [--reps 20] [--products 0|1]
// To compare kernel variants, build them side by side behind an environment switch for one
// device call (session 6 did so for gemv.cu and attention_decode.cu; docs/benchmarks.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tessera/ops.h"
#ifdef TESSERA_HAS_CUDA
#include "tessera/cuda.h"

namespace {

using namespace tessera;
using cuda::CapturedEvaluation;
using cuda::synchronize;

struct ProductShape {
  const char* name;
  int64_t n, k;  // weight rows (gate and up together with glu) and input features
  bool glu, residual, norm;
};

// Llama-3-8B (hidden 4096, 32 q / 8 kv heads of 128, intermediate 14336), OLMoE's attention.
const ProductShape kShapes[] = {
    {"l8b qkv (norm)", 6144, 4096, false, false, true},
    {"l8b o (+res)", 4096, 4096, false, true, false},
    {"l8b gate/up (norm, glu)", 28672, 4096, true, false, true},
    {"l8b down (+res)", 4096, 14336, false, true, false},
    {"l8b lm_head", 128256, 4096, false, false, false},
    {"olmoe qkv", 6144, 2048, false, false, true},
    {"olmoe o (+res)", 2048, 2048, false, true, false},
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Median seconds of one replay of build()'s arrays captured as a graph (after one eager run, so
// the allocator holds every buffer the capture needs: nothing may allocate while capturing).
template <typename Build>
double replay_seconds(Build build, int reps) {
  eval(build());
  synchronize();
  CapturedEvaluation graph({}, build());
  std::vector<double> times;
  for (int r = 0; r < reps + 2; ++r) {
    synchronize();
    auto t = std::chrono::steady_clock::now();
    graph.replay({});
    synchronize();
    if (r >= 2) times.push_back(seconds_since(t));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  std::vector<int> bit_widths = {0, 4};
  int reps = 20;
  bool products = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--bits") {
      bit_widths.clear();
      for (const char* p = argv[i + 1]; *p; ++p)
        if (*p >= '0' && *p <= '9') bit_widths.push_back(*p - '0');
    } else if (flag == "--products") {
      products = std::string(argv[i + 1]) != "0";
    } else if (flag == "--reps") {
      reps = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "decode_kernels: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (!cuda_available()) {
    std::fprintf(stderr, "decode_kernels: needs a CUDA device\n");
    return 1;
  }
  const Device gpu = Device::cuda(0);
  set_default_device(gpu);  // the ops below run on the GPU
  // A launch boundary: 64 dependent adds on 4096 values.
  {
    Array x = to_device(random::normal({1, 4096}, Dtype::bfloat16, 1), gpu);
    eval(x);
    auto build = [&] {
      Array y = x;
      for (int i = 0; i < 64; ++i) y = add(y, x);
      return std::vector<Array>{y};
    };
    double s = replay_seconds(build, reps);
    std::printf("%-26s %5s %9.2f us/kernel\n", "tiny kernel chain", "", s / 64 * 1e6);
  }
  // The small kernels of a Llama-3-8B decode layer after 512 cached tokens (capacity 1024), each
  // op L = 32 times in a chain (as 32 layers would run it): rope on q and on k at a data position
  // with Llama 3.1's frequencies, the cache writes of k and v at that position, attention over
  // the cache with the filled-slots mask, rms_norm.
  {
    const int layers = 32;
    const int64_t capacity = 1024;
    Array position = to_device(Array(std::vector<int32_t>{512}, {1}), gpu);
    Array freqs = to_device(random::uniform({64}, Dtype::float32, 9, 1e-4, 1.0), gpu);
    Array mask = reshape(less(arange(-1, capacity - 1, Dtype::int32), position), {1, 1, 1, capacity});
    Array q = to_device(random::normal({1, 32, 1, 128}, Dtype::bfloat16, 10), gpu);
    Array k = to_device(random::normal({1, 8, 1, 128}, Dtype::bfloat16, 11), gpu);
    Array h = to_device(random::normal({1, 1, 4096}, Dtype::bfloat16, 13), gpu);
    Array norm_weight = to_device(random::normal({4096}, Dtype::bfloat16, 14), gpu);
    std::vector<Array> caches;
    for (int i = 0; i < layers; ++i) caches.push_back(to_device(random::normal({1, 8, capacity, 128}, Dtype::bfloat16, 20 + uint64_t(i)), gpu));
    eval({position, freqs, mask, q, k, h, norm_weight});
    eval(caches);
    auto time_chain = [&](const char* name, auto op) {
      auto build = [&] {
        std::vector<Array> outputs;
        for (int i = 0; i < layers; ++i) outputs.push_back(op(i));
        return outputs;
      };
      std::printf("%-26s %5s %9.2f us/op\n", name, "", replay_seconds(build, reps) / layers * 1e6);
    };
    time_chain("rope q (32 heads)", [&](int) { return rope(q, 128, false, 500000.0f, 1.0f, position, freqs); });
    time_chain("rope k (8 heads)", [&](int) { return rope(k, 128, false, 500000.0f, 1.0f, position, freqs); });
    time_chain("cache write (k or v)", [&](int i) { return slice_update(caches[size_t(i)], k, position, 2); });
    time_chain("attention, 512 of 1024", [&](int i) {
      return scaled_dot_product_attention(q, caches[size_t(i)], caches[size_t((i + 1) % layers)], 0.088f, mask);
    });
    Array mask_short = reshape(less(arange(-1, 127, Dtype::int32), full({1}, 64, Dtype::int32)), {1, 1, 1, 128});
    eval(mask_short);
    time_chain("attention, 64 of 128", [&](int i) {
      Array kc = slice_axis(caches[size_t(i)], 2, 0, 128), vc = slice_axis(caches[size_t((i + 1) % layers)], 2, 0, 128);
      return scaled_dot_product_attention(q, kc, vc, 0.088f, mask_short);
    });
    time_chain("attention, 1024 no mask", [&](int i) {
      return scaled_dot_product_attention(q, caches[size_t(i)], caches[size_t((i + 1) % layers)], 0.088f);
    });
    time_chain("rms_norm 4096", [&](int) { return rms_norm(h, norm_weight, 1e-5f); });
  }
  std::printf("%-26s %5s %9s %9s %8s\n", "product", "bits", "us", "MB", "GB/s");
  for (const ProductShape& p : kShapes) {
    if (!products) break;
    const int64_t out_features = p.glu ? p.n / 2 : p.n;
    Array w0 = to_device(random::normal({p.n, p.k}, Dtype::bfloat16, 7, 0.0, 0.02), gpu);
    Array x = to_device(random::normal({1, 1, p.k}, Dtype::bfloat16, 3), gpu);
    Array residual = to_device(random::normal({1, 1, out_features}, Dtype::bfloat16, 4), gpu);
    Array norm_weight = to_device(random::normal({p.k}, Dtype::bfloat16, 5, 1.0, 0.1), gpu);
    eval({w0, x, residual, norm_weight});
    for (int bits : bit_widths) {
      const double weight_bytes = bits ? double(p.n) * p.k * (bits / 8.0 + 2.0 * 4 / 64) : double(p.n) * p.k * 2;
      // Enough distinct copies that the graph streams >= 1 GB (each copy at least once).
      const int copies = int(std::clamp(1.0e9 / weight_bytes, 2.0, 32.0));
      std::vector<Array> weights, scales, biases;
      for (int i = 0; i < copies; ++i) {
        Array wi = multiply(w0, full({}, 1.0 + 1e-3 * i, Dtype::bfloat16));
        if (bits) {
          QuantizedArrays q = quantize(wi, 64, bits);
          eval({q.weight, q.scales, q.biases});
          weights.push_back(q.weight), scales.push_back(q.scales), biases.push_back(q.biases);
        } else {
          eval(wi);
          weights.push_back(wi);
        }
      }
      std::optional<InputRmsNorm> norm;
      if (p.norm) norm = InputRmsNorm{norm_weight, 1e-5f};
      std::optional<Array> res;
      if (p.residual) res = residual;
      auto build = [&] {
        std::vector<Array> outputs;
        for (int i = 0; i < copies; ++i) {
          const Activation act = p.glu ? Activation::silu : Activation::none;
          outputs.push_back(bits ? quantized_linear(x, weights[size_t(i)], scales[size_t(i)], biases[size_t(i)],
                                                    std::nullopt, 64, bits, act, p.glu, res, norm)
                                 : linear(x, weights[size_t(i)], std::nullopt, act, p.glu, res, norm));
        }
        return outputs;
      };
      const double s = replay_seconds(build, reps) / copies;
      std::printf("%-26s %5d %9.2f %9.1f %8.0f\n", p.name, bits, s * 1e6, weight_bytes / 1e6, weight_bytes / s / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
#else
int main() {
  std::fprintf(stderr, "decode_kernels: built without CUDA\n");
  return 1;
}
#endif
