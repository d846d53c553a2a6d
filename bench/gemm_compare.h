#pragma once
// Harness shared by the per-library gemm_compare executables. OpenBLAS and BLIS both export the
// Fortran BLAS and cblas_* symbols, so one process cannot link both: each library gets its own
// small executable (gemm_compare_openblas, gemm_compare_onednn, gemm_compare_blis) that defines
// the functions declared at the bottom, and gemm_compare.cpp runs the same shapes over them.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/half.h"

namespace gemm_compare {

enum class InputType { f32, bf16, int8 };

// One GEMM of the sweep, row-major: C[m,n] = A[m,k] @ op(B), B stored [n,k] when trans_b
// (a PyTorch Linear weight) and [k,n] otherwise. Every input type is filled from the same
// random values, so a kernel reads the view matching its InputType.
struct Operands {
  int64_t m, n, k;
  bool trans_b;
  const float* a_f32;
  const float* b_f32;
  const tessera::bfloat16* a_bf16;
  const tessera::bfloat16* b_bf16;
  const uint8_t* a_u8;
  const int8_t* b_s8;
  float* c_f32;
  int32_t* c_s32;
};

struct Kernel {
  std::string name;
  InputType input;
  // Runs once per shape, untimed (weight packing, primitive creation when the kernel is meant to
  // be used that way); returns the call that is timed.
  std::function<std::function<void()>(const Operands&)> prepare;
};

// Defined once per library executable.
std::string library_name();
std::string library_report();  // version, chosen kernel/ISA, exported entry points
void set_library_threads(int threads);
std::vector<Kernel> library_kernels();

}  // namespace gemm_compare
