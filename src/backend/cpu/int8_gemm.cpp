// The int8 group GEMM (see int8_gemm.h). On x86-64 with AMX-INT8 the MLX weight bytes are
// AMX "A" tiles as they lie in memory (16 output rows x 64 k, row stride K: no repacking), the
// quantized activations are written straight into "B" tiles (64 k x 16 tokens in the VNNI order
// TDPBUUD wants), and each tile step's int32 sums are folded into float32 with that group's
// scales, offsets and biases before the next group starts.
#include "backend/cpu/int8_gemm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/strided.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define TESSERA_X86_INT8 1
#define TESSERA_AVX512_INT8 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define TESSERA_AMX_INT8 __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl")))
#endif

namespace tessera::cpu {

namespace {

constexpr int64_t kTileK = 64;  // bytes of k per AMX tile row: one TDPBUUD step

// n values as q = round((x - min) / a) in [0, 255], a = (max - min) / 255.
struct GroupQuantization {
  float scale, offset;  // a, min
  int32_t code_sum;     // sum of the q
};

GroupQuantization quantize_portable(const float* x, int64_t n, uint8_t* q) {
  float lo = x[0], hi = x[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float inv = hi > lo ? 255.0f / (hi - lo) : 0.0f;
  int32_t sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    q[i] = uint8_t(std::clamp(std::nearbyint((x[i] - lo) * inv), 0.0f, 255.0f));
    sum += q[i];
  }
  return {(hi - lo) / 255.0f, lo, sum};
}

#ifdef TESSERA_X86_INT8
bool cpu_has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return yes;
}

// The same as quantize_portable, 16 values per step (n a multiple of 16).
TESSERA_AVX512_INT8 GroupQuantization quantize_avx512(const float* x, int64_t n, uint8_t* q) {
  __m512 lo = _mm512_loadu_ps(x), hi = lo;
  for (int64_t i = 16; i < n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    lo = _mm512_min_ps(lo, v);
    hi = _mm512_max_ps(hi, v);
  }
  const float l = _mm512_reduce_min_ps(lo), h = _mm512_reduce_max_ps(hi);
  const __m512 inv = _mm512_set1_ps(h > l ? 255.0f / (h - l) : 0.0f), base = _mm512_set1_ps(l);
  __m512i sum = _mm512_setzero_si512();  // summed here: a scalar pass cost 40% of quantizing
  for (int64_t i = 0; i < n; i += 16) {
    // Round to nearest even (the default rounding mode), then clamp to [0, 255].
    const __m512i v = _mm512_min_epi32(
        _mm512_max_epi32(
            _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), base), inv)),
            _mm512_setzero_si512()),
        _mm512_set1_epi32(255));
    sum = _mm512_add_epi32(sum, v);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtusepi32_epi8(v));
  }
  return {(h - l) / 255.0f, l, _mm512_reduce_add_epi32(sum)};
}

// The sum of each of 16 rows of 64 unsigned bytes (row stride ld).
TESSERA_AVX512_INT8 void row_sums_64(const uint8_t* rows, int64_t ld, float* out) {
  for (int r = 0; r < 16; ++r) {
    const __m512i sad = _mm512_sad_epu8(_mm512_loadu_si512(rows + r * ld), _mm512_setzero_si512());
    out[r] = float(_mm512_reduce_add_epi64(sad));
  }
}

struct TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// Columns [n0, n1) of y for every token, 16 output rows x 16 tokens per tile step.
TESSERA_AMX_INT8 void amx_columns(const Int8Activations& x, const Int8Weights& w, int64_t n0,
                                  int64_t n1, float* y, int64_t ldy) {
  TileConfig config;
  for (int t = 0; t < 3; ++t) {  // tmm0: int32 sums; tmm1: weights (A); tmm2: tokens (B)
    config.rows[t] = 16;
    config.bytes_per_row[t] = 64;
  }
  _tile_loadconfig(&config);
  const int64_t k = w.k, groups = x.groups, steps = w.group_size / kTileK, chunks = k / kTileK;
  alignas(64) int32_t sums[16 * 16];
  alignas(64) float block[16 * 16];
  std::vector<uint8_t> padded_rows;  // the last, partial block of output rows, zero-filled
  // Per group, the 16 rows' scale, scale * (sum of their codes) and bias: broadcast operands.
  std::vector<float> row_terms(size_t(groups * 48));
  for (int64_t nb = n0; nb < n1; nb += 16) {
    const int64_t rows = std::min<int64_t>(16, n1 - nb);
    const uint8_t* a = w.q + nb * k;
    if (rows < 16) {
      padded_rows.assign(size_t(16 * k), 0);
      std::memcpy(padded_rows.data(), a, size_t(rows * k));
      a = padded_rows.data();
    }
    for (int64_t g = 0; g < groups; ++g) {
      float* terms = row_terms.data() + g * 48;
      float code_sums[16] = {};
      for (int64_t s = 0; s < steps; ++s) {
        float part[16];
        row_sums_64(a + (g * steps + s) * kTileK, k, part);
        for (int i = 0; i < 16; ++i) code_sums[i] += part[i];
      }
      for (int i = 0; i < 16; ++i) {
        const float scale = i < rows ? w.scales[(nb + i) * groups + g] : 0.0f;
        terms[i] = scale;
        terms[16 + i] = scale * code_sums[i];
        terms[32 + i] = i < rows ? w.biases[(nb + i) * groups + g] : 0.0f;
      }
    }
    for (int64_t tb = 0; tb < x.padded_m / 16; ++tb) {
      __m512 acc[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
      for (int64_t g = 0; g < groups; ++g) {
        _tile_zero(0);
        for (int64_t s = 0; s < steps; ++s) {
          const int64_t chunk = g * steps + s;
          _tile_loadd(1, a + chunk * kTileK, k);
          _tile_loadd(2, x.tiles + (tb * chunks + chunk) * 1024, 64);
          _tile_dpbuud(0, 1, 2);
        }
        _tile_stored(0, sums, 64);
        // Lanes are the block's 16 tokens: their scale, offset and quantized sum for group g.
        const int64_t at = g * x.padded_m + tb * 16;
        const __m512 token_scale = _mm512_loadu_ps(x.scale + at);
        const __m512 token_offset = _mm512_loadu_ps(x.offset + at);
        const __m512 group_sum = _mm512_loadu_ps(x.group_sum + at);
        const float* terms = row_terms.data() + g * 48;
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
          const __m512 dot =
              _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + 16 * i)), token_scale);
          acc[i] = _mm512_fmadd_ps(dot, _mm512_set1_ps(terms[i]), acc[i]);
          acc[i] = _mm512_fmadd_ps(token_offset, _mm512_set1_ps(terms[16 + i]), acc[i]);
          acc[i] = _mm512_fmadd_ps(group_sum, _mm512_set1_ps(terms[32 + i]), acc[i]);
        }
      }
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) _mm512_store_ps(block + 16 * i, acc[i]);
      const int64_t tokens = std::min<int64_t>(16, x.m - tb * 16);
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t i = 0; i < rows; ++i) y[(tb * 16 + t) * ldy + nb + i] = block[i * 16 + t];
    }
  }
  _tile_release();
}
#endif

void portable_columns(const Int8Activations& x, const Int8Weights& w, int64_t n0, int64_t n1,
                      float* y, int64_t ldy) {
  const int64_t k = w.k, groups = x.groups, gs = w.group_size;
  for (int64_t t = 0; t < x.m; ++t) {
    const uint8_t* xq = x.q + t * k;
    for (int64_t n = n0; n < n1; ++n) {
      const uint8_t* q = w.q + n * k;
      float acc = 0;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t dot = 0, code_sum = 0;
        for (int64_t i = g * gs; i < (g + 1) * gs; ++i) {
          dot += int32_t(q[i]) * int32_t(xq[i]);
          code_sum += q[i];
        }
        const size_t tg = size_t(g * x.padded_m + t);
        acc +=
            w.scales[n * groups + g] * (x.scale[tg] * float(dot) + x.offset[tg] * float(code_sum)) +
            w.biases[n * groups + g] * x.group_sum[tg];
      }
      y[t * ldy + n] = acc;
    }
  }
}

}  // namespace

bool int8_amx_available(int group_size) {
#ifdef TESSERA_X86_INT8
  static const bool available = [] {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool amx_tile = (edx >> 24) & 1, amx_int8 = (edx >> 25) & 1;
    if (!amx_tile || !amx_int8 || !cpu_has_avx512()) return false;
    // Linux grants the 8 KB of tile state only to processes that ask (ARCH_REQ_XCOMP_PERM for
    // XFEATURE_XTILEDATA); oneDNN asks too, asking twice is harmless.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return available && group_size % kTileK == 0;
#else
  (void)group_size;
  return false;
#endif
}

Int8Activations quantize_activations(const float* x, int64_t m, int64_t k, int group_size) {
  Int8Activations a;
  a.m = m;
  a.k = k;
  a.groups = k / group_size;
  a.padded_m = (m + kInt8TokenBlock - 1) / kInt8TokenBlock * kInt8TokenBlock;
  const bool tiles = int8_amx_available(group_size);
  // One buffer: the codes (row-major, or as tiles), then scale, offset and group sum.
  const size_t code_bytes = size_t(tiles ? a.padded_m * k : m * k);
  const size_t params = size_t(a.groups * a.padded_m);
  a.storage = Buffer::allocate_host((code_bytes + 63) / 64 * 64 + 3 * params * sizeof(float));
  uint8_t* codes = static_cast<uint8_t*>(a.storage->mutable_host());
  float* scale = reinterpret_cast<float*>(codes + (code_bytes + 63) / 64 * 64);
  float* offset = scale + params;
  float* group_sum = offset + params;
  std::fill(scale, scale + 3 * params, 0.0f);   // padding tokens contribute nothing
  const int64_t full_blocks_end = m / 16 * 16;  // tokens past it share a block with padding
  if (tiles)
    std::memset(codes + full_blocks_end * k, 0, size_t((a.padded_m - full_blocks_end) * k));
  const int64_t chunks = k / kTileK;
#pragma omp parallel for schedule(static) if (m * k >= kParallelThreshold)
  for (int64_t t = 0; t < m; ++t) {
    alignas(64) uint8_t group_codes[128];  // one group, when it goes on into the tiles
    for (int64_t g = 0; g < a.groups; ++g) {
      const float* xg = x + t * k + g * group_size;
      uint8_t* qg = tiles ? group_codes : codes + t * k + g * group_size;
#ifdef TESSERA_X86_INT8
      const GroupQuantization gq = cpu_has_avx512() && group_size % 16 == 0
                                       ? quantize_avx512(xg, group_size, qg)
                                       : quantize_portable(xg, group_size, qg);
#else
      const GroupQuantization gq = quantize_portable(xg, group_size, qg);
#endif
      const int32_t sum = gq.code_sum;
      const size_t at = size_t(g * a.padded_m + t);
      scale[at] = gq.scale;
      offset[at] = gq.offset;
      group_sum[at] = gq.scale * float(sum) + gq.offset * float(group_size);
      if (tiles) {  // token t's 4-byte runs of k go to row k / 4, column t of its block's tiles
        const int64_t block = t / 16, lane = t % 16;
        for (int64_t c = g * group_size / kTileK; c < (g + 1) * group_size / kTileK; ++c)
          for (int64_t r = 0; r < 16; ++r)
            std::memcpy(codes + ((block * chunks + c) * 16 + r) * 64 + lane * 4,
                        qg + (c * kTileK - g * group_size) + r * 4, 4);
      }
    }
  }
  a.q = tiles ? nullptr : codes;
  a.tiles = tiles ? codes : nullptr;
  a.scale = scale;
  a.offset = offset;
  a.group_sum = group_sum;
  return a;
}

void int8_group_gemm(const Int8Activations& x, const Int8Weights& w, int64_t n0, int64_t n1,
                     float* y, int64_t ldy) {
#ifdef TESSERA_X86_INT8
  if (int8_amx_available(w.group_size)) return amx_columns(x, w, n0, n1, y, ldy);
#endif
  portable_columns(x, w, n0, n1, y, ldy);
}

}  // namespace tessera::cpu
