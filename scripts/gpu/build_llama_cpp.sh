#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-quantize with CUDA for sm_90 (H100/H200) on the dev
# machine, and packs them for the lent GPU machine (which has no compiler): stripped, xz'd, into
# $CARRY (default /work/main/.gpu-carry-dec), beside the file the decoder tables need.
#
#   scripts/gpu/build_llama_cpp.sh SRC [BUILD]     SRC: a llama.cpp source tree (e.g. the one
#                                                  vendored in llama-cpp-python's sdist on PyPI)
#   CPU_ONLY=1 scripts/gpu/build_llama_cpp.sh SRC BUILD   a CPU build, to test GGUF files here
#
# The CUDA backend is ~150 nvcc translation units; on a 2-core machine that is hours. Kernels no
# decoder benchmark here reaches are left out (TRIM=0 keeps everything): FlashAttention
# instances other than head size 128 (Llama-3-8B and OLMoE both use 128), and quantized-matmul
# instances other than q4_0, q8_0, q4_K, q6_K (what Q4_0 / Q4_K_M files hold). Their host entry
# points stay unresolved at link time (--unresolved-symbols=ignore-in-object-files): a model that
# needs one would crash llama.cpp, not give a wrong number.
set -euo pipefail
SRC=$(cd "$1" && pwd)
BUILD=${2:-/work/llama-build-cuda}
CARRY=${CARRY:-/work/main/.gpu-carry-dec}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-/work}
JOBS=${JOBS:-2}

if [[ "${CPU_ONLY:-0}" == 1 ]]; then
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_OPENSSL=OFF >/dev/null
  nice -n 15 ninja -C "$BUILD" -j"$JOBS" llama-bench llama-quantize
  exit 0
fi

if [[ "${TRIM:-1}" == 1 ]]; then
  ti="$SRC/ggml/src/ggml-cuda/template-instances"
  for f in "$ti"/mmq-instance-*.cu; do
    case "$(basename "$f")" in
      mmq-instance-q4_0.cu | mmq-instance-q8_0.cu | mmq-instance-q4_k.cu | mmq-instance-q6_k.cu) ;;
      *) rm -f "$f" ;;
    esac
  done
  for f in "$ti"/fattn-tile-instance-*.cu; do
    [[ "$(basename "$f")" == fattn-tile-instance-dkq128-dv128.cu ]] || rm -f "$f"
  done
  for f in "$ti"/fattn-mma-f16-instance-*.cu; do  # keep the include and the (128, 128, ...) cases
    grep -v '^DECL_FATTN_MMA_F16_CASE' "$f" >"$f.tmp"
    grep '^DECL_FATTN_MMA_F16_CASE(128, 128,' "$f" >>"$f.tmp" || true
    mv "$f.tmp" "$f"
  done
fi

PATH=/usr/local/cuda/bin:$PATH cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_CUDA_NCCL=OFF \
  -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,--unresolved-symbols=ignore-in-object-files" >/dev/null
nice -n 15 ninja -C "$BUILD" -j"$JOBS" llama-bench llama-quantize

mkdir -p "$CARRY"
for bin in llama-bench llama-quantize; do
  strip -o "$CARRY/$bin" "$BUILD/bin/$bin"
  rm -f "$CARRY/$bin.xz" && xz -T2 -6 "$CARRY/$bin"
done
ldd "$BUILD/bin/llama-bench" | grep -E "cuda|cublas" || true
du -ab "$CARRY"
