#!/usr/bin/env bash
# On the lent GPU machine: inventory, dependencies, a release build with CUDA (sm_90), the whole
# ctest suite (test_ops and test_models run every case on cuda too), then the encoder benchmark
# against PyTorch. Logs and CSVs go to $OUT; a short summary and the comparison table print last.
#
#   scripts/gpu/run_gpu.sh [STEP...]    STEP: inventory deps build test bench (default: all)
#
# The machine has nvcc, cmake, ninja, g++ and PyTorch but none of tessera's Debian -dev packages;
# those travel as .deb files in .deps/ (made on the dev machine by scripts/gpu/fetch-debs.sh) and
# are unpacked under /tmp/deps, never into /.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The tree to build: the checkout by default; SRC=.snapshot builds an exported commit instead
# (git archive HEAD), when the checkout holds other people's unfinished work.
SRC=$(cd "${SRC:-$ROOT}" && pwd)
OUT=${OUT:-/tmp/tessera-gpu-out}
BUILD=${BUILD:-/tmp/tessera-build}
DEPS=/tmp/deps
MODEL=${MODEL:-/tmp/bert-base-random}
BENCH_RUNS=${BENCH_RUNS:-20}
SHAPES=${SHAPES:-1x128,8x128,32x128,32x512,128x128}
mkdir -p "$OUT"
steps=("$@")
((${#steps[@]})) || steps=(inventory deps build test bench)
summary=()

inventory() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  grep PRETTY_NAME /etc/os-release
  ldd --version | head -1
  g++ --version | head -1
  cmake --version | head -1
  echo "ninja $(ninja --version)"
  nvcc --version | tail -2
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
}

deps() {
  if [[ ! -d "$ROOT/.deps" ]]; then
    echo "no .deps/: relying on system packages"
    return
  fi
  mkdir -p "$DEPS"
  for deb in "$ROOT"/.deps/*.deb; do dpkg -x "$deb" "$DEPS"; done
  echo "unpacked $(ls "$ROOT"/.deps/*.deb | wc -l) packages into $DEPS"
}

use_deps() {
  [[ -d "$DEPS/usr" ]] || return 0
  export PATH="$DEPS/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The .pc files say prefix=/usr: the sysroot re-roots them under $DEPS.
  export PKG_CONFIG_LIBDIR="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$DEPS"
  export CMAKE_PREFIX_PATH="$DEPS/usr"
  export CPLUS_INCLUDE_PATH="$DEPS/usr/include"  # header-only CLI11 has no CMake package here
}

build() {
  use_deps
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; return 1; }
  local start=$SECONDS
  ninja -C "$BUILD" -j16 >"$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -30; return 1; }
  summary+=("build: $((SECONDS - start)) s")
}

test_step() {
  use_deps
  # TESTS narrows the run to tests whose names match (ctest -R), e.g. TESTS=cuda.
  (cd "$BUILD" && ctest -j12 --timeout 300 --output-on-failure ${TESTS:+-R "$TESTS"} >"$OUT/ctest.log" 2>&1)
  local line
  line=$(grep -E "tests passed|tests failed" "$OUT/ctest.log" | tail -1)
  summary+=("ctest: $line")
  grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)" "$OUT/ctest.log" | head -40
}

bench() {
  use_deps
  local common=(--runs "$BENCH_RUNS" --warmup 3)
  "$BUILD/bench/encoder_latency" "$MODEL" --device cuda --graph --shapes "$SHAPES" "${common[@]}" \
    >"$OUT/tessera.csv" 2>"$OUT/tessera.err" || tail -5 "$OUT/tessera.err"
  "$BUILD/bench/encoder_latency" "$MODEL" --device cuda --graph --dtypes float16 --shapes 32x128,32x512 \
    --padding 0.5 "${common[@]}" >>"$OUT/tessera.csv" 2>>"$OUT/tessera.err" || tail -5 "$OUT/tessera.err"
  PYTHONUNBUFFERED=1 env -u LD_LIBRARY_PATH python3 "$SRC/bench/peers/pytorch_encoder.py" "$MODEL" --graph --dtypes float32,float16 \
    --shapes "$SHAPES" "${common[@]}" >"$OUT/pytorch.csv" 2>"$OUT/pytorch.err" || tail -5 "$OUT/pytorch.err"
  PYTHONUNBUFFERED=1 env -u LD_LIBRARY_PATH python3 "$SRC/bench/peers/pytorch_encoder.py" "$MODEL" --graph --dtypes float16 \
    --shapes 32x128,32x512 --padding 0.5 "${common[@]}" >>"$OUT/pytorch.csv" 2>>"$OUT/pytorch.err" ||
    tail -5 "$OUT/pytorch.err"
  python3 "$ROOT/scripts/gpu/compare_table.py" "$OUT/tessera.csv" "$OUT/pytorch.csv" >"$OUT/table.md"
}

for step in "${steps[@]}"; do
  echo "=== $step"
  case "$step" in
    inventory) inventory 2>&1 | tee "$OUT/inventory.log" ;;
    deps) deps ;;
    build) build || { echo "build failed"; break; } ;;
    test) test_step ;;
    bench) bench ;;
    *) echo "unknown step $step" ;;
  esac
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
[[ -f "$OUT/table.md" ]] && { echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader)"; cat "$OUT/table.md"; }
true
