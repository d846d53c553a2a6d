// CPU GEMM over oneDNN, chosen by measurement (docs/benchmarks.md, "CPU GEMM library choice").
//
// Both dtypes use oneDNN's BLAS-like entry points (dnnl_sgemm, dnnl_gemm_bf16bf16f32): no state,
// BLAS semantics, and on this CPU at least as fast as the matmul primitive with plain weights
// (several times faster for one token, where primitive creation and the per-call weight copy
// dominate). bf16 runs on AMX there.
//
// Threading: the Debian oneDNN runs on OpenMP (DNNL_CPU_RUNTIME=OMP) and so shares tessera's
// libgomp thread pool and omp_get_max_threads(): OMP_NUM_THREADS / omp_set_num_threads() steer
// both, and no second pool spins against OpenMP's workers (what makes pthread OpenBLAS collapse
// between OpenMP regions, see the benchmark). Called inside an OpenMP parallel region (tessera
// parallelises attention over heads that way), oneDNN runs on the calling thread alone, even with
// nested parallelism enabled, so the machine is never oversubscribed. tests/gemm checks this.
#include "backend/cpu/gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <string>

#include "tessera/error.h"

// Exported by libdnnl 2.x (DNNL_API) and used by its own benchdnn, but declared in the public
// header only from oneDNN 3.x on. Row-major, like dnnl_sgemm.
extern "C" dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t m, dnnl_dim_t n,
                                               dnnl_dim_t k, float alpha, const uint16_t* a,
                                               dnnl_dim_t lda, const uint16_t* b, dnnl_dim_t ldb,
                                               float beta, float* c, dnnl_dim_t ldc);

namespace tessera::cpu {
namespace {

// k == 0 leaves only the beta term, which oneDNN does not apply; beta == 0 must not read C.
void scale_output(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

void check(dnnl_status_t status, const char* where) {
  TESSERA_CHECK(status == dnnl_success, where,
                "oneDNN GEMM failed with status " + std::to_string(int(status)));
}

}  // namespace

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_output(m, n, beta, c, ldc);
  check(dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta,
                   c, ldc),
        "gemm_f32");
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const bfloat16* a, int64_t lda, const bfloat16* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_output(m, n, beta, c, ldc);
  static_assert(sizeof(bfloat16) == sizeof(uint16_t));
  check(dnnl_gemm_bf16bf16f32(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha,
                              reinterpret_cast<const uint16_t*>(a), lda,
                              reinterpret_cast<const uint16_t*>(b), ldb, beta, c, ldc),
        "gemm_bf16");
}

const char* gemm_backend_name() { return "onednn"; }

}  // namespace tessera::cpu
