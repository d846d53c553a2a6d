#include "backend/cpu/quantized_avx512.h"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12 flags the deliberately undefined lanes inside the masked-load intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <type_traits>

#define TESSERA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace tessera::cpu {

bool has_avx512() {
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return supported;
}

namespace {

// Lane i of 16 consecutive values lives in word (i * Bits) / 32 at bit (i * Bits) % 32 of the
// Bits / 2 words that hold them: a permute spreads the words, a variable shift aligns each lane.
template <int Bits>
TESSERA_AVX512 inline __m512 unpack16(const uint32_t* words) {
  alignas(64) static constexpr auto kLayout = [] {
    struct {
      int32_t word[16], shift[16];
    } layout{};
    for (int i = 0; i < 16; ++i) {
      layout.word[i] = i * Bits / 32;
      layout.shift[i] = i * Bits % 32;
    }
    return layout;
  }();
  __m512i q;
  if constexpr (Bits == 8) {
    q = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words)));
  } else {
    const __m512i raw = _mm512_maskz_loadu_epi32(__mmask16((1u << (Bits / 2)) - 1), words);
    q = _mm512_permutexvar_epi32(_mm512_load_si512(kLayout.word), raw);
    q = _mm512_srlv_epi32(q, _mm512_load_si512(kLayout.shift));
    q = _mm512_and_si512(q, _mm512_set1_epi32((1 << Bits) - 1));
  }
  return _mm512_cvtepi32_ps(q);
}

// Round to nearest even, as to_bfloat16 (dequantized weights are finite).
TESSERA_AVX512 inline __m256i to_bfloat16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
  return _mm512_cvtepi32_epi16(rounded);
}

template <int Bits, typename Out>
TESSERA_AVX512 void dequantize_row(const uint32_t* words, const float* scales, const float* biases,
                                   int64_t groups, int group_size, Out* out) {
  constexpr int words_per_16 = Bits / 2;
  for (int64_t g = 0; g < groups; ++g) {
    const __m512 scale = _mm512_set1_ps(scales[g]), bias = _mm512_set1_ps(biases[g]);
    for (int i = 0; i < group_size; i += 16, words += words_per_16, out += 16) {
      const __m512 w = _mm512_fmadd_ps(unpack16<Bits>(words), scale, bias);
      if constexpr (std::is_same_v<Out, float>)
        _mm512_storeu_ps(out, w);
      else
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), to_bfloat16(w));
    }
  }
}

// Rows fixed at compile time so the accumulators live in registers.
template <int Bits, int Rows>
TESSERA_AVX512 void gemv_rows(const float* x, const PackedMatrix& w, int64_t n0, int64_t n1,
                              float* out, int64_t ld_out) {
  const int64_t k = w.cols, groups = k / w.group_size, words_per_row = k * Bits / 32;
  for (int64_t n = n0; n < n1; ++n) {
    const uint32_t* words = w.words + n * words_per_row;
    const float* scales = w.scales + n * groups;
    const float* biases = w.biases + n * groups;
    // Two accumulators per row (even and odd 16-weight steps; groups hold at least 32), so a
    // single row is not bound by the latency of one FMA chain.
    __m512 even[Rows], odd[Rows];
    for (int r = 0; r < Rows; ++r) even[r] = odd[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      const __m512 scale = _mm512_set1_ps(scales[g]), bias = _mm512_set1_ps(biases[g]);
      for (int64_t i = g * w.group_size; i < (g + 1) * w.group_size; i += 32, words += Bits) {
        const __m512 w0 = _mm512_fmadd_ps(unpack16<Bits>(words), scale, bias);
        const __m512 w1 = _mm512_fmadd_ps(unpack16<Bits>(words + Bits / 2), scale, bias);
        for (int r = 0; r < Rows; ++r) {
          even[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * k + i), w0, even[r]);
          odd[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * k + i + 16), w1, odd[r]);
        }
      }
    }
    for (int r = 0; r < Rows; ++r) out[r * ld_out + n] = _mm512_reduce_add_ps(_mm512_add_ps(even[r], odd[r]));
  }
}

template <int Bits>
void gemv_bits(const float* x, int64_t rows, const PackedMatrix& w, int64_t n0, int64_t n1,
               float* out, int64_t ld_out) {
  switch (rows) {
    case 1: return gemv_rows<Bits, 1>(x, w, n0, n1, out, ld_out);
    case 2: return gemv_rows<Bits, 2>(x, w, n0, n1, out, ld_out);
    case 3: return gemv_rows<Bits, 3>(x, w, n0, n1, out, ld_out);
    case 4: return gemv_rows<Bits, 4>(x, w, n0, n1, out, ld_out);
    case 5: return gemv_rows<Bits, 5>(x, w, n0, n1, out, ld_out);
    case 6: return gemv_rows<Bits, 6>(x, w, n0, n1, out, ld_out);
    case 7: return gemv_rows<Bits, 7>(x, w, n0, n1, out, ld_out);
    default: return gemv_rows<Bits, 8>(x, w, n0, n1, out, ld_out);
  }
}

// In place: r[i] lane j becomes r[j] lane i (16 x 16 32-bit words). Unpacks pair rows, then
// 64-bit halves; 128-bit lanes are exchanged last.
TESSERA_AVX512 inline void transpose16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  __m512i u[16];  // u[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i ab_lo = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), ab_hi = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
    const __m512i cd_lo = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44),
                  cd_hi = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
    r[j] = _mm512_shuffle_i32x4(ab_lo, cd_lo, 0x88);
    r[4 + j] = _mm512_shuffle_i32x4(ab_lo, cd_lo, 0xDD);
    r[8 + j] = _mm512_shuffle_i32x4(ab_hi, cd_hi, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(ab_hi, cd_hi, 0xDD);
  }
}

// Rows [n0, n0 + cols) of w (cols a multiple of 64) as oneDNN's BA16a64b2a layout of the
// [K, cols] matrix W^T: blocks of 64 output columns, outermost, each K / 32 blocks of 32 k, each
// [16 k pairs][64 columns][2 k] bfloat16. A (column, k pair) is one 32-bit word. Per 32 k of 16
// columns: each column's 32 weights (scale * q + bias in float32, rounded once to bfloat16) are
// 16 words in k-pair order; a 16 x 16 transpose turns them into one 64-byte store per k pair.
// (A first version scattered each column's 16 words instead, column by column over all of K:
// 16 cache lines touched per 32 weights, 55% of a 128-token 3072 -> 768 layer.) The output is
// the panel buffer, so no arithmetic leaves the function: AVX512-BF16 is needed only for the
// conversion instruction.
template <int Bits>
TESSERA_AVX512 __attribute__((target("avx512bf16"))) void dequantize_panel(const PackedMatrix& w, int64_t n0,
                                                                           int64_t cols, bfloat16* out) {
  constexpr int64_t kPrefetchK = 256;
  const int64_t k = w.cols, groups = k / w.group_size, words_per_row = k * Bits / 32;
  uint32_t* panel = reinterpret_cast<uint32_t*>(out);
  __m512i r[16];
  for (int64_t block = 0; block < cols / 64; ++block) {
    uint32_t* block_words = panel + block * (k * 32);
    for (int64_t c16 = 0; c16 < 64; c16 += 16) {
      const int64_t n = n0 + block * 64 + c16;
      for (int64_t i = 0; i < k; i += 32) {
        const int64_t g = i / w.group_size;
        // 16 rows are read side by side, 32 k at a time: the hardware prefetchers do not keep
        // up (the code loads were half of this function's time), so each row's codes are asked
        // for 256 k ahead, running on into the next 16 rows of the panel at the end
        // (dequantizing bert-base shapes from memory: 0.22 -> 0.13 ns per weight).
        if ((i * Bits / 8) % 64 == 0) {
          const int64_t ahead = i + kPrefetchK;
          const uint32_t* next = ahead < k ? w.words + n * words_per_row + ahead * Bits / 32
                                 : n + 16 < n0 + cols ? w.words + (n + 16) * words_per_row + (ahead - k) * Bits / 32
                                                      : nullptr;
          if (next)
            for (int row = 0; row < 16; ++row)
              _mm_prefetch(reinterpret_cast<const char*>(next + row * words_per_row), _MM_HINT_T0);
        }
        const uint32_t* words = w.words + n * words_per_row + i * Bits / 32;
        const float* scales = w.scales + n * groups + g;
        const float* biases = w.biases + n * groups + g;
        // Unrolled so that r stays in registers (a loop kept it on the stack).
#pragma GCC unroll 16
        for (int row = 0; row < 16; ++row) {
          const __m512 scale = _mm512_set1_ps(scales[row * groups]);
          const __m512 bias = _mm512_set1_ps(biases[row * groups]);
          const __m512 lo = _mm512_fmadd_ps(unpack16<Bits>(words + row * words_per_row), scale, bias);
          const __m512 hi = _mm512_fmadd_ps(unpack16<Bits>(words + row * words_per_row + Bits / 2), scale, bias);
          // lo then hi: k i..i+31 in order, so word j is the pair (i + 2j, i + 2j + 1).
          // VCVTNE2PS2BF16 (AVX512-BF16, which AMX CPUs have) rounds to nearest even, 32 at once.
          r[row] = _mm512_castps_si512(reinterpret_cast<__m512>(_mm512_cvtne2ps_pbh(hi, lo)));
        }
        transpose16x16(r);
        uint32_t* dst = block_words + (i / 32) * 1024 + c16;
        for (int j = 0; j < 16; ++j) _mm512_storeu_si512(dst + j * 64, r[j]);
      }
    }
  }
}

template <typename Out>
void dispatch_bits(const uint32_t* words, const float* scales, const float* biases, int64_t groups,
                   int group_size, int bits, Out* out) {
  switch (bits) {
    case 2: return dequantize_row<2>(words, scales, biases, groups, group_size, out);
    case 4: return dequantize_row<4>(words, scales, biases, groups, group_size, out);
    default: return dequantize_row<8>(words, scales, biases, groups, group_size, out);
  }
}

}  // namespace

void dequantize_row_avx512(const uint32_t* words, const float* scales, const float* biases,
                           int64_t groups, int group_size, int bits, float* out) {
  dispatch_bits(words, scales, biases, groups, group_size, bits, out);
}

void dequantize_row_avx512(const uint32_t* words, const float* scales, const float* biases,
                           int64_t groups, int group_size, int bits, bfloat16* out) {
  dispatch_bits(words, scales, biases, groups, group_size, bits, out);
}

void dequantize_panel_ba16a64b2a(const PackedMatrix& w, int64_t n0, int64_t cols, bfloat16* out) {
  switch (w.bits) {
    case 2: return dequantize_panel<2>(w, n0, cols, out);
    case 4: return dequantize_panel<4>(w, n0, cols, out);
    default: return dequantize_panel<8>(w, n0, cols, out);
  }
}

void quantized_gemv_avx512(const float* x, int64_t rows, const PackedMatrix& w, int64_t n0,
                           int64_t n1, float* out, int64_t ld_out) {
  switch (w.bits) {
    case 2: return gemv_bits<2>(x, rows, w, n0, n1, out, ld_out);
    case 4: return gemv_bits<4>(x, rows, w, n0, n1, out, ld_out);
    default: return gemv_bits<8>(x, rows, w, n0, n1, out, ld_out);
  }
}

}  // namespace tessera::cpu

#else  // no AVX-512 build: the portable loops always run

namespace tessera::cpu {
bool has_avx512() { return false; }
void dequantize_row_avx512(const uint32_t*, const float*, const float*, int64_t, int, int, float*) {}
void dequantize_row_avx512(const uint32_t*, const float*, const float*, int64_t, int, int, bfloat16*) {}
void quantized_gemv_avx512(const float*, int64_t, const PackedMatrix&, int64_t, int64_t, float*, int64_t) {}
void dequantize_panel_ba16a64b2a(const PackedMatrix&, int64_t, int64_t, bfloat16*) {}
}  // namespace tessera::cpu

#endif
