// OpenBLAS kernels for gemm_compare (see gemm_compare.h).
#include <cblas.h>
#include <dlfcn.h>

#include "gemm_compare.h"

namespace gemm_compare {
namespace {

// cblas.h declares cblas_sbgemm, but only builds with BUILD_BFLOAT16 export it (Debian's 0.3.21
// does not), so it is looked up at run time rather than linked.
using SbgemmFn = void (*)(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint,
                          float, const bfloat16*, blasint, const bfloat16*, blasint, float, float*,
                          blasint);

SbgemmFn find_sbgemm() { return reinterpret_cast<SbgemmFn>(dlsym(RTLD_DEFAULT, "cblas_sbgemm")); }

CBLAS_TRANSPOSE trans_of(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

}  // namespace

std::string library_name() { return "openblas"; }

std::string library_report() {
  return std::string("# openblas_get_config: ") + openblas_get_config() +
         "\n# openblas_get_corename: " + openblas_get_corename() +
         "\n# cblas_sbgemm exported: " + (find_sbgemm() ? "yes" : "no") + "\n";
}

void set_library_threads(int threads) { openblas_set_num_threads(threads); }

std::vector<Kernel> library_kernels() {
  std::vector<Kernel> kernels;
  kernels.push_back({"cblas_sgemm", InputType::f32, [](const Operands& o) {
                       return std::function<void()>([o] {
                         cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_of(o.trans_b), o.m, o.n,
                                     o.k, 1.0f, o.a_f32, o.k, o.b_f32, o.trans_b ? o.k : o.n, 0.0f,
                                     o.c_f32, o.n);
                       });
                     }});
  if (SbgemmFn sbgemm = find_sbgemm()) {
    kernels.push_back({"cblas_sbgemm", InputType::bf16, [sbgemm](const Operands& o) {
                         return std::function<void()>([o, sbgemm] {
                           sbgemm(CblasRowMajor, CblasNoTrans, trans_of(o.trans_b), o.m, o.n, o.k,
                                  1.0f, reinterpret_cast<const bfloat16*>(o.a_bf16), o.k,
                                  reinterpret_cast<const bfloat16*>(o.b_bf16),
                                  o.trans_b ? o.k : o.n, 0.0f, o.c_f32, o.n);
                         });
                       }});
  }
  return kernels;
}

}  // namespace gemm_compare
