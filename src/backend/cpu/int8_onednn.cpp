// int8 compute on oneDNN's int8 matmul primitive (brgemm on AMX-INT8 on CPUs that have it,
// AVX-512 VNNI otherwise).
//
// oneDNN's int8 matmul wants one scale per output channel for the weights (s8) and one scale and
// zero point per tensor for the source; MLX's 8-bit weights have a scale and bias per group of K,
// and BERT-family activations carry a few outlier channels 10-20x larger than the rest, which is
// why the per-group kernel (int8_gemm.h) quantizes activations per token *and group*. Here both
// problems go away with one orthogonal change of basis along K:
//
//   y = W x = (W H)(H x),   H = blockdiag(Hadamard_b / sqrt(b)), symmetric, H H = I,
//
// b the largest power of two dividing K (at most 1024). The rotation spreads an outlier channel's
// energy over b channels (a 20x outlier becomes ~20 / sqrt(b) per channel), so one scale per
// token loses little, and it flattens the weight rows the same way before they are requantized
// per output channel. So:
//
// - at first use (kept as prepared forms of the weight's Buffer): W dequantized exactly from the
//   MLX codes, rotated (fast Walsh-Hadamard transform per row), quantized symmetrically per
//   output row to s8 (s_n = max|row| / 127), Σ_k of each row's codes kept, and the s8 weights
//   reordered into the blocked layout the kernel reads;
// - per call: each token rotated and quantized asymmetrically to u8 over its own range
//   (x_r ~= a_t xq + m_t), the u8 x s8 -> s32 product on oneDNN, then one pass
//   y = a_t s_n acc + m_t s_n Σ_k Wq[n][k] + bias[n].
#include "backend/cpu/int8_onednn.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/onednn_layout.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/strided.h"

namespace tessera::cpu {

namespace {

using dnnl::memory;

int64_t rotation_block(int64_t k) {
  int64_t b = 1;
  while (b < 1024 && k % (b * 2) == 0) b *= 2;
  return b;
}

// In-place orthonormal Walsh-Hadamard transform of each block of b values of x[0, k) (radix 2).
void rotate_portable(float* x, int64_t k, int64_t b) {
  const float norm = 1.0f / std::sqrt(float(b));
  for (int64_t base = 0; base < k; base += b) {
    float* v = x + base;
    for (int64_t h = 1; h < b; h *= 2)
      for (int64_t i = 0; i < b; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          const float a = v[j], c = v[j + h];
          v[j] = a + c;
          v[j + h] = a - c;
        }
    for (int64_t j = 0; j < b; ++j) v[j] *= norm;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define TESSERA_AVX512_ROTATE __attribute__((target("avx512f")))
// The same for b >= 16 (a multiple of 16): stages h = 1..8 inside each 16-float register (lane i
// becomes x[i ^ h] + (i & h ? -1 : 1) x[i]), then whole-register butterflies, the last stage
// scaled by 1 / sqrt(b).
TESSERA_AVX512_ROTATE void rotate_avx512(float* x, int64_t k, int64_t b) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i partner[4];
  __m512 sign[4];
  for (int s = 0; s < 4; ++s) {
    const __m512i h = _mm512_set1_epi32(1 << s);
    partner[s] = _mm512_xor_si512(lane, h);
    const __mmask16 high = _mm512_test_epi32_mask(lane, h);
    sign[s] = _mm512_mask_blend_ps(high, _mm512_set1_ps(1.0f), _mm512_set1_ps(-1.0f));
  }
  const __m512 norm = _mm512_set1_ps(1.0f / std::sqrt(float(b)));
  for (int64_t base = 0; base < k; base += b) {
    float* v = x + base;
    for (int64_t c = 0; c < b; c += 16) {
      __m512 r = _mm512_loadu_ps(v + c);
      for (int s = 0; s < 4; ++s)
        r = _mm512_fmadd_ps(r, sign[s], _mm512_mask_permutexvar_ps(r, __mmask16(0xFFFF), partner[s], r));  // masked form: GCC 12 warns on the plain one
      if (b == 16) r = _mm512_mul_ps(r, norm);
      _mm512_storeu_ps(v + c, r);
    }
    for (int64_t h = 16; h < b; h *= 2) {
      const bool last = h * 2 == b;
      for (int64_t i = 0; i < b; i += 2 * h)
        for (int64_t j = i; j < i + h; j += 16) {
          const __m512 a = _mm512_loadu_ps(v + j), c = _mm512_loadu_ps(v + j + h);
          __m512 sum = _mm512_add_ps(a, c), diff = _mm512_sub_ps(a, c);
          if (last) {
            sum = _mm512_mul_ps(sum, norm);
            diff = _mm512_mul_ps(diff, norm);
          }
          _mm512_storeu_ps(v + j, sum);
          _mm512_storeu_ps(v + j + h, diff);
        }
    }
  }
}
#endif

void rotate(float* x, int64_t k, int64_t b) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && b >= 16) return rotate_avx512(x, k, b);
#endif
  rotate_portable(x, k, b);
}

// Asymmetric u8 codes of row[0, k) over its own range; row becomes the rounding residual.
// Returns {a, min}. Rounding: adding 1.5 * 2^23 rounds [0, 255] to nearest even, as nearbyint
// does in the default mode, in a form that vectorises.
TESSERA_SIMD std::pair<float, float> quantize_token(float* row, int64_t k, uint8_t* q) {
  float lo16[16], hi16[16];
  for (int l = 0; l < 16; ++l) lo16[l] = hi16[l] = row[0];
  int64_t j = 0;
  for (; j + 16 <= k; j += 16)
    for (int l = 0; l < 16; ++l) {
      lo16[l] = std::min(lo16[l], row[j + l]);
      hi16[l] = std::max(hi16[l], row[j + l]);
    }
  float lo = lo16[0], hi = hi16[0];
  for (int l = 1; l < 16; ++l) {
    lo = std::min(lo, lo16[l]);
    hi = std::max(hi, hi16[l]);
  }
  for (; j < k; ++j) {
    lo = std::min(lo, row[j]);
    hi = std::max(hi, row[j]);
  }
  const float inv = hi > lo ? 255.0f / (hi - lo) : 0.0f, a = (hi - lo) / 255.0f;
  constexpr float kRound = 12582912.0f;
  for (int64_t i = 0; i < k; ++i) {
    const float code = std::min(std::max((row[i] - lo) * inv, 0.0f), 255.0f) + kRound - kRound;
    q[i] = uint8_t(int32_t(code));
    row[i] -= a * code + lo;
  }
  return {a, lo};
}

// out[j] = base[j] (+)= a * s[j] * acc[j] over n values.
TESSERA_SIMD void dequantize_sums(const int32_t* acc, const float* s, float a, const float* code_sum,
                                  float lo, const float* bias, int64_t n, float* out, bool first) {
  if (first) {
    for (int64_t j = 0; j < n; ++j)
      out[j] = float(acc[j]) * (a * s[j]) + lo * code_sum[j] + (bias ? bias[j] : 0.0f);
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] += float(acc[j]) * (a * s[j]);
  }
}

// The rotated weight requantized to s8 per output row, in `levels` stacked parts: part 0 is the
// row quantized with s_n = max|row| / 127, part 1 (when levels = 2) its rounding residual
// quantized the same way. Plain [levels * N, K] row-major, with per part-row terms.
struct RotatedWeight {
  int64_t n, k, block;
  int levels;
  std::vector<int8_t> q;
  std::vector<float> scale;     // [levels * N]: s
  std::vector<float> code_sum;  // [N]: Σ over parts of s * Σ_k q (the rows' sums of W)
};

int8_t quantize_row(const float* row, int64_t k, int8_t* q, float& scale) {
  float peak = 0;
  for (int64_t j = 0; j < k; ++j) peak = std::max(peak, std::fabs(row[j]));
  scale = peak > 0 ? peak / 127.0f : 1.0f;
  const float inv = 1.0f / scale;
  for (int64_t j = 0; j < k; ++j) q[j] = int8_t(std::clamp(int(std::nearbyint(row[j] * inv)), -127, 127));
  return 0;
}

std::shared_ptr<const RotatedWeight> rotate_weight(const uint8_t* codes, const float* scales,
                                                   const float* biases, int64_t n, int64_t k,
                                                   int group_size, int levels) {
  auto r = std::make_shared<RotatedWeight>();
  r->n = n;
  r->k = k;
  r->block = rotation_block(k);
  r->levels = levels;
  r->q.resize(size_t(levels * n * k));
  r->scale.resize(size_t(levels * n));
  r->code_sum.resize(size_t(n));
  const int64_t groups = k / group_size;
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(k), 0.0f);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j) {
        const int64_t g = i * groups + j / group_size;
        row[size_t(j)] = scales[g] * float(codes[i * k + j]) + biases[g];
      }
      rotate(row.data(), k, r->block);
      double total = 0;
      for (int level = 0; level < levels; ++level) {
        int8_t* q = r->q.data() + (level * n + i) * k;
        float& s = r->scale[size_t(level * n + i)];
        quantize_row(row.data(), k, q, s);
        int64_t sum = 0;
        for (int64_t j = 0; j < k; ++j) {
          sum += q[j];
          row[size_t(j)] -= s * float(q[j]);  // the residual, for the next level
        }
        total += double(s) * double(sum);
      }
      r->code_sum[size_t(i)] = float(total);
    }
  }
  return r;
}

struct PrimitiveKey {
  int64_t m, n, k;
  int threads;
  bool operator<(const PrimitiveKey& o) const {
    return std::tie(m, n, k, threads) < std::tie(o.m, o.n, o.k, o.threads);
  }
};

struct CachedPrimitive {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
  bool usable;
};

std::shared_ptr<const CachedPrimitive> primitive_for(const PrimitiveKey& key) {
  static std::mutex mutex;
  static std::map<PrimitiveKey, std::shared_ptr<const CachedPrimitive>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 4096) cache.clear();
  const memory::desc src({key.m, key.k}, memory::data_type::u8, memory::dims{key.k, 1});
  const memory::desc weights({key.k, key.n}, memory::data_type::s8, memory::format_tag::any);
  const memory::desc dst({key.m, key.n}, memory::data_type::s32, memory::dims{key.n, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), attr, onednn_cpu_engine());
  const bool usable = std::string(pd.impl_info_str()).rfind("ref", 0) != 0;
  auto cached = std::make_shared<const CachedPrimitive>(
      CachedPrimitive{pd, usable ? dnnl::matmul(pd) : dnnl::matmul(), usable});
  cache.emplace(key, cached);
  return cached;
}

}  // namespace

bool onednn_int8_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("TESSERA_INT8_ONEDNN");
    return v && std::string(v) == "1";
  }();
  return enabled;
}

namespace {
// TESSERA_INT8_LEVELS="WA" (default "11"): W = 2 adds the weights' residual level, A = 2 the
// activations' (precision experiments).
std::pair<int, int> int8_levels() {
  static const std::pair<int, int> levels = [] {
    const char* v = std::getenv("TESSERA_INT8_LEVELS");
    if (!v || std::strlen(v) != 2) return std::make_pair(1, 1);
    return std::make_pair(v[0] == '2' ? 2 : 1, v[1] == '2' ? 2 : 1);
  }();
  return levels;
}
}  // namespace

bool onednn_int8_linear(const float* x, int64_t m, int64_t k, const Array& codes_array,
                        const float* scales, const float* biases, int group_size,
                        const float* bias, float* y) {
  const int64_t n = codes_array.shape(0);
  if (m <= 0 || k <= 0 || n <= 0 || !codes_array.is_contiguous()) return false;
  const auto [wl, al] = int8_levels();
  const int64_t gm = al * m, gn = wl * n;  // the GEMM's rows (token parts) and columns (weight parts)
  auto cached = primitive_for({gm, gn, k, omp_get_max_threads()});
  if (!cached->usable) return false;
  const dnnl::matmul::primitive_desc& pd = cached->pd;
  dnnl::engine& engine = onednn_cpu_engine();

  const Buffer& buffer = *codes_array.buffer();
  const std::string view = "int8-rotated view " + std::to_string(codes_array.offset()) + "/" +
                           to_string(codes_array.shape()) + " g" + std::to_string(group_size) +
                           " l" + std::to_string(wl);
  const auto* rotated = static_cast<const RotatedWeight*>(
      buffer.prepared(view, [&] {
              const uint8_t* codes =
                  static_cast<const uint8_t*>(buffer.host()) + codes_array.offset() * 4;
              return std::static_pointer_cast<const void>(
                  rotate_weight(codes, scales, biases, n, k, group_size, wl));
            }).get());
  const memory::desc plain_md({k, gn}, memory::data_type::s8, memory::dims{1, k});
  memory weights;
  if (pd.weights_desc() == plain_md) {
    weights = memory(plain_md, engine, const_cast<int8_t*>(rotated->q.data()));
  } else {
    Buffer::PreparedForm form = buffer.prepared(view + onednn_layout_key(pd.weights_desc()), [&] {
      auto packed = std::make_shared<memory>(pd.weights_desc(), engine);
      memory plain(plain_md, engine, const_cast<int8_t*>(rotated->q.data()));
      dnnl::stream stream(engine);
      dnnl::reorder(plain, *packed).execute(stream, plain, *packed);
      stream.wait();
      return std::static_pointer_cast<const void>(packed);
    });
    weights = *static_cast<const memory*>(form.get());
  }

  // Tokens rotated and quantized: u8 codes [al * M, K] (level l of token t at row l * M + t),
  // then per token and level a (scale) and min.
  const size_t code_bytes = size_t(gm * k + 63) / 64 * 64;
  const bool direct = gm == m && gn == n;  // int32 sums straight into y, converted in place
  std::shared_ptr<Buffer> act = Buffer::allocate_host(code_bytes + size_t(2 * gm) * sizeof(float) +
                                                      (direct ? 0 : size_t(gm * gn) * 4));
  uint8_t* xq = static_cast<uint8_t*>(act->mutable_host());
  float* token_scale = reinterpret_cast<float*>(xq + code_bytes);
  float* token_min = token_scale + gm;
  int32_t* sums = direct ? reinterpret_cast<int32_t*>(y) : reinterpret_cast<int32_t*>(token_min + gm);
  const int64_t block = rotated->block;
#pragma omp parallel if (m * k >= kParallelThreshold)
  {
    std::vector<float> row(static_cast<size_t>(k), 0.0f);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < m; ++t) {
      std::memcpy(row.data(), x + t * k, size_t(k) * sizeof(float));
      rotate(row.data(), k, block);
      for (int level = 0; level < al; ++level) {
        const int64_t r = level * m + t;
        const auto [a, lo] = quantize_token(row.data(), k, xq + r * k);
        token_scale[r] = a;
        token_min[r] = lo;
      }
    }
  }

  std::shared_ptr<Buffer> scratchpad =
      Buffer::allocate_host(std::max<size_t>(pd.scratchpad_desc().get_size(), 1));
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(pd.src_desc(), engine, xq)},
      {DNNL_ARG_WEIGHTS, weights},
      {DNNL_ARG_DST, memory(pd.dst_desc(), engine, sums)},
      {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine, scratchpad->mutable_host())}};
  dnnl::stream stream(engine);
  cached->primitive.execute(stream, args);
  stream.wait();

  const float* s = rotated->scale.data();
  const float* cs = rotated->code_sum.data();
  // In place when the sums are y itself: each row's int32 values are read before written.
#pragma omp parallel for schedule(static) if (m * n >= kParallelThreshold)
  for (int64_t t = 0; t < m; ++t) {
    float lo = 0;
    for (int level = 0; level < al; ++level) lo += token_min[level * m + t];
    bool first = true;
    for (int la = 0; la < al; ++la)
      for (int lw = 0; lw < wl; ++lw) {
        dequantize_sums(sums + (la * m + t) * gn + lw * n, s + lw * n, token_scale[la * m + t], cs,
                        lo, bias, n, y + t * n, first);
        first = false;
      }
  }
  return true;
}

}  // namespace tessera::cpu
