#!/usr/bin/env bash
# Builds llama.cpp for the decoder benchmark on the dev machine and packs it for the lent GPU
# machine (which has no compiler): llama-bench with CUDA for sm_90 (H100/H200), and llama-quantize
# from a CPU-only build (quantizing needs no GPU, and its binary is then 2 MB, not 20), stripped
# and xz'd into $CARRY (default /work/main/.gpu-carry-dec). The CPU build also runs llama-bench
# here on scaled-down GGUF files (scripts/gpu/decoder_tables.sh with DEVICE=cpu).
#
#   scripts/gpu/build_llama_cpp.sh SRC      SRC: a llama.cpp source tree, e.g. the one vendored
#                                           in llama-cpp-python's sdist (pip download --no-binary)
#   STAGE=cpu|cuda|pack picks one part (default: all three, in that order).
#
# The CUDA backend is ~150 nvcc translation units: hours on 2 shared cores. Kernels no decoder
# benchmark here reaches are left out (TRIM=0 keeps everything): FlashAttention instances for head
# sizes other than 128 (Llama-3-8B and OLMoE both use 128) and quantized-matmul instances other
# than q4_0, q8_0, q4_K, q6_K (what Q4_0 and Q4_K_M files hold). Their host entry points, which
# the dispatchers still name, are linked to stubs that print the kernel's name and abort: a model
# that needed one would stop llama-bench, never give a wrong number. Any other unresolved symbol
# still fails the link. The source tree is edited in place.
set -euo pipefail
SRC=$(cd "$1" && pwd)
CPU_BUILD=${CPU_BUILD:-/work/llama-build-cpu}
CUDA_BUILD=${CUDA_BUILD:-/work/llama-build-cuda}
CARRY=${CARRY:-/work/main/.gpu-carry-dec}
STAGE=${STAGE:-all}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-/work}
JOBS=${JOBS:-2}
# Portable x86 code (the GPU host's CPU is not this one): AVX2 and FMA, no -march=native.
COMMON=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
  -DGGML_BMI2=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF)

if [[ $STAGE == all || $STAGE == cpu ]]; then
  cmake -S "$SRC" -B "$CPU_BUILD" "${COMMON[@]}" >/dev/null
  nice -n 15 ninja -C "$CPU_BUILD" -j"$JOBS" llama-bench llama-quantize
fi

if [[ $STAGE == all || $STAGE == cuda ]]; then
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
    for f in "$ti"/fattn-mma-f16-instance-*.cu; do  # the include and the (128, 128, ...) cases
      grep -v '^DECL_FATTN_MMA_F16_CASE' "$f" >"$f.tmp"
      grep '^DECL_FATTN_MMA_F16_CASE(128, 128,' "$f" >>"$f.tmp" || true
      mv "$f.tmp" "$f"
    done
  fi
  cuda_cmake() {
    PATH=/usr/local/cuda/bin:$PATH cmake -S "$SRC" -B "$CUDA_BUILD" "${COMMON[@]}" -DGGML_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_CUDA_NCCL=OFF -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
      -DCMAKE_EXE_LINKER_FLAGS="$1" >/dev/null
  }
  cuda_cmake ""
  nice -n 15 ninja -C "$CUDA_BUILD" -j"$JOBS" ggml-cuda
  stubs_o=""
  if [[ "${TRIM:-1}" == 1 ]]; then
    lib="$CUDA_BUILD/ggml/src/ggml-cuda/libggml-cuda.a"
    comm -23 <(nm "$lib" 2>/dev/null | awk '$1 == "U" {print $2}' | sort -u) \
      <(nm "$lib" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TtWwVv]/ {print $3}' | sort -u) >"$CUDA_BUILD/trim-missing.txt"
    python3 - "$CUDA_BUILD/trim-missing.txt" "$CUDA_BUILD/trim-stubs.c" <<'PY'
import re, subprocess, sys
names = open(sys.argv[1]).read().split()
shown = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
trimmed = re.compile(r"mul_mat_q_case<|ggml_cuda_flash_attn_ext_(tile|mma_f16)_case<")
with open(sys.argv[2], "w") as f:
    f.write("#include <stdio.h>\n#include <stdlib.h>\n")
    n = 0
    for name, pretty in zip(names, shown):
        if not trimmed.search(pretty):
            continue
        text = pretty.replace("\\", "").replace('"', "'")
        f.write(f'void trim_stub_{n}(void) __asm__("{name}");\n'
                f'void trim_stub_{n}(void) {{ fprintf(stderr, "llama.cpp built without %s\\n", "{text}"); abort(); }}\n')
        n += 1
print(f"{n} trimmed kernels stubbed")
PY
    cc -O2 -fPIC -c "$CUDA_BUILD/trim-stubs.c" -o "$CUDA_BUILD/trim-stubs.o"
    stubs_o="$CUDA_BUILD/trim-stubs.o"
  fi
  cuda_cmake "$stubs_o"
  nice -n 15 ninja -C "$CUDA_BUILD" -j"$JOBS" llama-bench
fi

if [[ $STAGE == all || $STAGE == pack ]]; then
  mkdir -p "$CARRY"
  strip -o "$CARRY/llama-bench" "$CUDA_BUILD/bin/llama-bench"
  strip -o "$CARRY/llama-quantize" "$CPU_BUILD/bin/llama-quantize"
  for bin in llama-bench llama-quantize; do
    rm -f "$CARRY/$bin.xz" && xz -T2 -6 "$CARRY/$bin"
  done
  echo "llama-bench needs:"
  ldd "$CUDA_BUILD/bin/llama-bench" | grep -vE "linux-vdso|ld-linux" | awk '{print "  " $1}'
  du -ab "$CARRY"
fi
