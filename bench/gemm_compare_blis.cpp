// BLIS kernels for gemm_compare (see gemm_compare.h), through the native typed API: its strides
// express the row-major layout directly, and it leaves the cblas_* names alone.
#include <blis.h>

#include "gemm_compare.h"

namespace gemm_compare {

std::string library_name() { return "blis"; }

std::string library_report() {
  return std::string("# bli_info_get_version_str: ") + bli_info_get_version_str() +
         "\n# bli_arch_query_id: " + bli_arch_string(bli_arch_query_id()) +
         "\n# threading: " + (bli_info_get_enable_openmp() ? "openmp" : "not openmp") + "\n";
}

void set_library_threads(int threads) { bli_thread_set_num_threads(threads); }

std::vector<Kernel> library_kernels() {
  return {{"bli_sgemm", InputType::f32, [](const Operands& o) {
             return std::function<void()>([o] {
               float one = 1.0f, zero = 0.0f;
               // b is the stored matrix: [n,k] row-major when transposed, [k,n] otherwise.
               bli_sgemm(BLIS_NO_TRANSPOSE, o.trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, o.m,
                         o.n, o.k, &one, const_cast<float*>(o.a_f32), o.k, 1,
                         const_cast<float*>(o.b_f32), o.trans_b ? o.k : o.n, 1, &zero, o.c_f32, o.n,
                         1);
             });
           }}};
}

}  // namespace gemm_compare
