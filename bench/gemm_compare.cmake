# gemm_compare: one executable per CPU GEMM library (OpenBLAS and BLIS export the same BLAS and
# cblas_* symbols, so they cannot share a process). Plain executables, not Google Benchmark: see
# gemm_compare.cpp. Run them through bench/gemm_compare.sh.
set(GEMM_COMPARE_LIBRARIES openblas onednn blis)
set(GEMM_COMPARE_openblas_INCLUDE ${OPENBLAS_INCLUDE})
set(GEMM_COMPARE_openblas_LIB ${OPENBLAS_LIB} ${CMAKE_DL_LIBS})
set(GEMM_COMPARE_onednn_INCLUDE ${DNNL_INCLUDE})
set(GEMM_COMPARE_onednn_LIB ${DNNL_LIB})
set(GEMM_COMPARE_blis_INCLUDE ${BLIS_INCLUDE})
set(GEMM_COMPARE_blis_LIB ${BLIS_LIB})

foreach(library ${GEMM_COMPARE_LIBRARIES})
  if(NOT GEMM_COMPARE_${library}_LIB OR NOT GEMM_COMPARE_${library}_INCLUDE)
    message(STATUS "gemm_compare_${library} skipped: ${library} not found")
    continue()
  endif()
  add_executable(gemm_compare_${library} gemm_compare.cpp gemm_compare_${library}.cpp)
  target_include_directories(gemm_compare_${library} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  # SYSTEM: blis.h trips -Wextra on its own code.
  target_include_directories(gemm_compare_${library} SYSTEM PRIVATE ${GEMM_COMPARE_${library}_INCLUDE})
  target_link_libraries(gemm_compare_${library} PRIVATE ${GEMM_COMPARE_${library}_LIB} OpenMP::OpenMP_CXX)
endforeach()
