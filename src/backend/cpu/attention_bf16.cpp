// Fused (flash-style) attention for bfloat16 Q, K, V on the CPU (issue 7). Per (sequence, head)
// and block of kQueryBlock query rows, the kernel walks the keys in blocks of kAmxKeyBlock:
// scores = Q K^T (exact bf16 products, float32 sums), scale, mask / causal limit, online softmax
// (running max and sum per row), and O += P V (P rounded to bf16, sums in float32). No [S, S]
// score matrix is ever stored: a block's scores live in an L1-sized scratch.
//
// Both products are AMX tile dot products (16 x 16 x 32, tdpbf16ps); the softmax runs in AVX-512.
// K is packed once per (sequence, kv head) into pairs along d ([d/2][keys][2] bf16: AMX's B-tile
// layout), keys padded with zeros to a multiple of the key block; V goes to [keys/2][dv][2] bf16.
// Both passes are O(S d) against the O(S^2 d) of the products. (An AVX-512 BF16 kernel,
// vdpbf16ps with P V in float32 FMAs, measured slower than the float32 path and was removed.)
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "backend/cpu/attention_flash.h"

#define TESSERA_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define TESSERA_AMX_BF16 \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

namespace tessera::cpu {

namespace {

constexpr int64_t kQueryBlock = 32;  // query rows per task (a multiple of 16: one tile's rows)

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// exp(x) for x <= 0 on 16 lanes; lanes below -87 (masked keys: -inf) give exactly 0.
TESSERA_AVX512_BF16 inline __m512 exp_ps(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.0f);
  __mmask16 live = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  x = _mm512_max_ps(x, lo);
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(live, _mm512_scalef_ps(p, n));
}

// scale, masks, causal limit, then the online softmax update of one row's block of raw scores
// s (valid: keys of the block this row sees): the row's probabilities (unnormalised, relative to
// the new running max) go to s in float32, or to p_bf16 in bfloat16 when given; *corr is the
// factor by which the row's accumulated output and sum shrink.
template <int64_t B>
TESSERA_AVX512_BF16 void softmax_block(float* s, float scale, int64_t i, int64_t j0, int64_t valid,
                                       const FlashMask& mask, float* m, float* l, float* corr,
                                       uint16_t* p_bf16 = nullptr) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  constexpr int V = int(B / 16);
  __m512 x[V];
  __m512 sv = _mm512_set1_ps(scale);
  if (valid == B && !mask.keep && (!mask.additive || mask.col == 1)) {
    // The common case in registers: a full block, no mask or a unit-stride additive one.
    if (mask.additive) {
      const float* row = mask.additive + i * mask.row + j0;
      for (int v = 0; v < V; ++v)
        x[v] = _mm512_fmadd_ps(_mm512_loadu_ps(s + v * 16), sv, _mm512_loadu_ps(row + v * 16));
    } else {
      for (int v = 0; v < V; ++v) x[v] = _mm512_mul_ps(_mm512_loadu_ps(s + v * 16), sv);
    }
  } else {
    for (int v = 0; v < V; ++v)
      _mm512_storeu_ps(s + v * 16, _mm512_mul_ps(_mm512_loadu_ps(s + v * 16), sv));
    if (mask.keep) {
      const bool* row = mask.keep + i * mask.row + j0 * mask.col;
      for (int64_t j = 0; j < valid; ++j)
        if (!row[j * mask.col]) s[j] = neg_inf;
    } else if (mask.additive) {
      const float* row = mask.additive + i * mask.row + j0 * mask.col;
      for (int64_t j = 0; j < valid; ++j) s[j] += row[j * mask.col];
    }
    for (int64_t j = valid; j < B; ++j) s[j] = neg_inf;
    for (int v = 0; v < V; ++v) x[v] = _mm512_loadu_ps(s + v * 16);
  }
  __m512 mx = x[0];
  for (int v = 1; v < V; ++v) mx = _mm512_max_ps(mx, x[v]);
  float m_new = std::max(*m, _mm512_reduce_max_ps(mx));
  if (m_new == neg_inf) {  // nothing visible yet: the row stays empty
    if (p_bf16)
      std::memset(p_bf16, 0, B * sizeof(uint16_t));
    else
      std::memset(s, 0, B * sizeof(float));
    *corr = 1.0f;
    return;
  }
  __m512 shift = _mm512_set1_ps(m_new), sum = _mm512_setzero_ps();
  for (int v = 0; v < V; ++v) {
    x[v] = exp_ps(_mm512_sub_ps(x[v], shift));
    sum = _mm512_add_ps(sum, x[v]);
  }
  if (p_bf16) {
    for (int v = 0; v < V; v += 2)
      _mm512_storeu_si512(p_bf16 + v * 16, (__m512i)_mm512_cvtne2ps_pbh(x[v + 1], x[v]));
  } else {
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(s + v * 16, x[v]);
  }
  float c = *m == neg_inf ? 0.0f : std::exp(*m - m_new);
  *corr = c;
  *l = *l * c + _mm512_reduce_add_ps(sum);
  *m = m_new;
}

constexpr int64_t kAmxKeyBlock = 128;  // keys per block of the AMX kernel (a multiple of 64)

// AMX: every tile is 16 rows x 64 bytes (16 x 32 bf16 operands, 16 x 16 float32 results).
struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

bool amx_bf16_available() {
  static const bool yes = [] {
    if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16")) return false;
    // Linux grants the tile state only to processes that ask (ARCH_REQ_XCOMP_PERM, XTILEDATA).
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return yes;
}

// Scratch of the AMX kernel: Q rows in pairs (row pitch dpp, a multiple of 16), one 16-row
// tile's scores and probabilities (float32 and bf16), its P V partial, and per row the output
// accumulator and online softmax state.
struct AmxScratch {
  std::vector<uint32_t> q;    // [kQueryBlock][dpp]
  std::vector<float> scores;  // [kQueryBlock][kAmxKeyBlock]
  std::vector<uint16_t> p;    // [kQueryBlock][kAmxKeyBlock] bf16
  std::vector<float> part;    // [kQueryBlock][64]: one 64-column slice of P V
  std::vector<float> o;       // [kQueryBlock][dvp]
  std::vector<float> m, l, corr;
};

// kp: packed K ([dpp][k_pitch][2] bf16); vp: packed V ([k_pitch / 2][dvp][2] bf16).
TESSERA_AMX_BF16 void attend_block_amx(const FlashQuery& qu, int64_t i0, const uint16_t* kp,
                                       int64_t k_pitch, const uint16_t* vp, int64_t n_k, int64_t d,
                                       int64_t dv, float scale, bool causal, AmxScratch& w) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  int64_t dpp = round_up((d + 1) / 2, 16), dvp = round_up(dv, 16);
  int64_t rows = std::min(kQueryBlock, qu.n - i0), rows_p = round_up(rows, 16);
  TileConfig config;
  for (int t = 0; t < 6; ++t) {
    config.rows[t] = 16;
    config.bytes_per_row[t] = 64;
  }
  _tile_loadconfig(&config);
  std::fill(w.q.begin(), w.q.begin() + rows_p * dpp, 0u);
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* src = qu.q.data + (i0 + r) * qu.q.row;
    uint16_t* dst = reinterpret_cast<uint16_t*>(w.q.data() + r * dpp);
    for (int64_t c = 0; c < d; ++c) dst[c] = src[c * qu.q.col];
  }
  std::fill(w.o.begin(), w.o.begin() + rows_p * dvp, 0.0f);
  std::fill(w.m.begin(), w.m.begin() + rows_p, neg_inf);
  std::fill(w.l.begin(), w.l.begin() + rows_p, 0.0f);
  int64_t limit = causal ? std::min(n_k, i0 + rows + n_k - qu.n) : n_k;
  for (int64_t j0 = 0; j0 < limit; j0 += kAmxKeyBlock) {
    // Three phases over the block's 16-row tiles, so that tile stores and the vector loads of
    // the same data (and back) are a tile apart: scores, softmax, P V.
    for (int64_t r0 = 0; r0 < rows_p; r0 += 16) {
      // Scores of 16 rows x 64 keys: tmm0-3, Q in tmm4, K in tmm5.
      for (int64_t jk = j0; jk < j0 + kAmxKeyBlock; jk += 64) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t t = 0; t < dpp; t += 16) {
          _tile_loadd(4, w.q.data() + r0 * dpp + t, dpp * 4);
          const uint16_t* kt = kp + (t * k_pitch + jk) * 2;
          _tile_loadd(5, kt, k_pitch * 4);
          _tile_dpbf16ps(0, 4, 5);
          _tile_loadd(5, kt + 32, k_pitch * 4);
          _tile_dpbf16ps(1, 4, 5);
          _tile_loadd(5, kt + 64, k_pitch * 4);
          _tile_dpbf16ps(2, 4, 5);
          _tile_loadd(5, kt + 96, k_pitch * 4);
          _tile_dpbf16ps(3, 4, 5);
        }
        float* sc = w.scores.data() + r0 * kAmxKeyBlock + (jk - j0);
        _tile_stored(0, sc, kAmxKeyBlock * 4);
        _tile_stored(1, sc + 16, kAmxKeyBlock * 4);
        _tile_stored(2, sc + 32, kAmxKeyBlock * 4);
        _tile_stored(3, sc + 48, kAmxKeyBlock * 4);
      }
    }
    for (int64_t i = 0; i < rows_p; ++i) {
      int64_t valid = std::min(kAmxKeyBlock, n_k - j0);
      if (i >= rows) {
        valid = 0;
      } else if (causal) {
        valid = std::clamp<int64_t>(i0 + i + n_k - qu.n + 1 - j0, 0, valid);
      }
      softmax_block<kAmxKeyBlock>(w.scores.data() + i * kAmxKeyBlock, scale, i0 + i, j0, valid,
                                  qu.mask, &w.m[i], &w.l[i], &w.corr[i],
                                  w.p.data() + i * kAmxKeyBlock);
    }
    // P V, 64 output columns at a time: tmm0-3, P in tmm4, V in tmm5.
    for (int64_t c0 = 0; c0 < dvp; c0 += 64) {
      int tiles = int(std::min<int64_t>(4, (dvp - c0) / 16));
      for (int64_t r0 = 0; r0 < rows_p; r0 += 16) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t s = 0; s < kAmxKeyBlock; s += 32) {
          _tile_loadd(4, w.p.data() + r0 * kAmxKeyBlock + s, kAmxKeyBlock * 2);
          const uint16_t* vt = vp + ((j0 + s) / 2 * dvp + c0) * 2;
          _tile_loadd(5, vt, dvp * 4);
          _tile_dpbf16ps(0, 4, 5);
          if (tiles > 1) {
            _tile_loadd(5, vt + 32, dvp * 4);
            _tile_dpbf16ps(1, 4, 5);
          }
          if (tiles > 2) {
            _tile_loadd(5, vt + 64, dvp * 4);
            _tile_dpbf16ps(2, 4, 5);
          }
          if (tiles > 3) {
            _tile_loadd(5, vt + 96, dvp * 4);
            _tile_dpbf16ps(3, 4, 5);
          }
        }
        float* part = w.part.data() + r0 * 64;
        _tile_stored(0, part, 256);
        if (tiles > 1) _tile_stored(1, part + 16, 256);
        if (tiles > 2) _tile_stored(2, part + 32, 256);
        if (tiles > 3) _tile_stored(3, part + 48, 256);
      }
      for (int64_t r = 0; r < rows_p; ++r) {
        __m512 c = _mm512_set1_ps(w.corr[r]);
        float* o = w.o.data() + r * dvp + c0;
        const float* part = w.part.data() + r * 64;
        for (int x = 0; x < tiles; ++x)
          _mm512_storeu_ps(o + x * 16, _mm512_fmadd_ps(_mm512_loadu_ps(o + x * 16), c,
                                                       _mm512_loadu_ps(part + x * 16)));
      }
    }
  }
  _tile_release();
  for (int64_t r = 0; r < rows; ++r) {
    float inv = w.l[r] > 0 ? 1.0f / w.l[r] : 0.0f;
    const float* src = w.o.data() + r * dvp;
    float* dst = qu.out + (i0 + r) * qu.out_row;
    for (int64_t c = 0; c < dv; ++c) dst[c] = src[c] * inv;
  }
}

// The AMX path: K packed as [dpp][pitch][2], V as [pitch / 2][dvp][2] (bf16, zero padded).
void flash_amx(const std::vector<FlashKeys>& keys, const std::vector<FlashQuery>& queries,
               int64_t d, int64_t dv, float scale, bool causal) {
  int64_t dpp = round_up((d + 1) / 2, 16), dvp = round_up(dv, 16);
  std::vector<int64_t> pitch(keys.size()), k_offset(keys.size() + 1, 0),
      v_offset(keys.size() + 1, 0);
  for (size_t u = 0; u < keys.size(); ++u) {
    pitch[u] = round_up(keys[u].n, kAmxKeyBlock) + kAmxKeyBlock;
    k_offset[u + 1] = k_offset[u] + dpp * pitch[u] * 2;
    v_offset[u + 1] = v_offset[u] + pitch[u] * dvp;
  }
  // Kept by the calling thread between calls: a fresh allocation per call cost ~5% in page faults.
  static thread_local std::vector<uint16_t> k_store, v_store;
  if (k_store.size() < size_t(k_offset.back())) k_store.resize(size_t(k_offset.back()));
  if (v_store.size() < size_t(v_offset.back())) v_store.resize(size_t(v_offset.back()));
  uint16_t *k_base = k_store.data(), *v_base = v_store.data();
  std::vector<std::pair<int64_t, int64_t>> tasks;
  for (size_t u = 0; u < queries.size(); ++u)
    for (int64_t i0 = 0; i0 < queries[u].n; i0 += kQueryBlock) tasks.push_back({int64_t(u), i0});
  int64_t units = int64_t(keys.size()), task_count = int64_t(tasks.size());
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t u = 0; u < units; ++u) {
      const FlashKeys& ku = keys[size_t(u)];
      uint16_t* kd = k_base + k_offset[size_t(u)];
      uint16_t* vd = v_base + v_offset[size_t(u)];
      int64_t kpitch = pitch[size_t(u)];
      std::fill(kd, kd + dpp * kpitch * 2, uint16_t(0));
      std::fill(vd, vd + kpitch * dvp, uint16_t(0));
      for (int64_t j = 0; j < ku.n; ++j) {
        const uint16_t* krow = ku.k.data + j * ku.k.row;
        for (int64_t c = 0; c < d; ++c)
          kd[((c / 2) * kpitch + j) * 2 + (c & 1)] = krow[c * ku.k.col];
        const uint16_t* vrow = ku.v.data + j * ku.v.row;
        uint16_t* vdst = vd + (j / 2) * dvp * 2 + (j & 1);
        for (int64_t c = 0; c < dv; ++c) vdst[c * 2] = vrow[c * ku.v.col];
      }
    }
    AmxScratch w;
    w.q.resize(size_t(kQueryBlock * dpp));
    w.scores.resize(size_t(kQueryBlock * kAmxKeyBlock));
    w.p.resize(size_t(kQueryBlock * kAmxKeyBlock));
    w.part.resize(size_t(kQueryBlock * 64));
    w.o.resize(size_t(kQueryBlock * dvp));
    w.m.resize(kQueryBlock);
    w.l.resize(kQueryBlock);
    w.corr.resize(kQueryBlock);
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < task_count; ++t) {
      const FlashQuery& qu = queries[size_t(tasks[size_t(t)].first)];
      size_t u = size_t(qu.keys);
      attend_block_amx(qu, tasks[size_t(t)].second, k_base + k_offset[u], pitch[u],
                       v_base + v_offset[u], keys[u].n, d, dv, scale, causal, w);
    }
  }
}

}  // namespace

// AMX only: an AVX-512 BF16 kernel (vdpbf16ps: 32 MACs an instruction, no more per cycle than
// two float32 FMAs) measured slower than the float32 path, so CPUs without AMX keep that path.
bool flash_bf16_available() {
  static const bool avx512_bf16 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bf16");
  return avx512_bf16 && amx_bf16_available();
}

void flash_attention_bf16(const std::vector<FlashKeys>& keys, const std::vector<FlashQuery>& queries, int64_t d,
                          int64_t dv, float scale, bool causal) {
  flash_amx(keys, queries, d, dv, scale, causal);
}

}  // namespace tessera::cpu
