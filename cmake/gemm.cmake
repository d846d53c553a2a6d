# CPU GEMM libraries. All three are found so bench/gemm_compare can measure them side by side;
# tessera_lib links only the one the measurements chose (docs/benchmarks.md, "CPU GEMM library
# choice"): oneDNN, for float32 (dnnl_sgemm) and bfloat16 (matmul on AMX) alike.
# src/backend/cpu/gemm.cpp implements that choice only; another value would need its own
# implementation and a new measurement to justify it.
set(TESSERA_GEMM "onednn" CACHE STRING "CPU GEMM library (measured choice: onednn)")
set_property(CACHE TESSERA_GEMM PROPERTY STRINGS onednn)

# Debian installs each threading flavour in its own directory; the OpenMP ones share tessera's
# thread pool, so they are preferred where installed.
find_library(OPENBLAS_LIB NAMES openblas
  HINTS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/x86_64-linux-gnu/openblas-pthread)
find_path(OPENBLAS_INCLUDE cblas.h
  HINTS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/x86_64-linux-gnu/openblas-pthread
        /usr/include/openblas)
find_library(DNNL_LIB NAMES dnnl)
find_path(DNNL_INCLUDE oneapi/dnnl/dnnl.hpp)
find_library(BLIS_LIB NAMES blis HINTS /usr/lib/x86_64-linux-gnu/blis-openmp /usr/lib/x86_64-linux-gnu/blis-pthread)
find_path(BLIS_INCLUDE blis.h HINTS /usr/include/x86_64-linux-gnu/blis-openmp /usr/include/blis)

if(NOT TESSERA_GEMM STREQUAL "onednn")
  message(FATAL_ERROR "TESSERA_GEMM=${TESSERA_GEMM}: only onednn is implemented (docs/benchmarks.md)")
endif()
if(NOT DNNL_LIB OR NOT DNNL_INCLUDE)
  message(FATAL_ERROR "oneDNN (libdnnl-dev) not found: run scripts/install-deps.sh")
endif()
add_library(tessera_gemm_backend INTERFACE)
target_include_directories(tessera_gemm_backend INTERFACE ${DNNL_INCLUDE})
target_link_libraries(tessera_gemm_backend INTERFACE ${DNNL_LIB})
