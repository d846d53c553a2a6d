#!/usr/bin/env bash
# CPU thread scaling on the lent host (16 cores): builds tessera without CUDA and times the
# bert-base encoder on the CPU at several OMP_NUM_THREADS, with the OpenMP wait policy as the
# bench binaries get it (unset: libgomp spins) and passive (what the `tessera` command sets), and
# with TESSERA_PACKED_LINEAR=0 (the generic dnnl_sgemm path) and 1 (packed oneDNN primitives).
#
#   scripts/gpu/cpu_threads.sh            results in $OUT/cpu_threads.csv (+ profiles)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/tessera-gpu-out}
BUILD=${BUILD:-/tmp/tessera-cpu-build}
MODEL=${MODEL:-/tmp/bert-base-random}
THREADS=${THREADS:-2 8 16}
SHAPES=${SHAPES:-1x1,1x128}
mkdir -p "$OUT"
"$ROOT/scripts/gpu/run_gpu.sh" deps >/dev/null
DEPS=/tmp/deps
export PATH="$DEPS/usr/bin:$PATH" LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu"
export PKG_CONFIG_LIBDIR="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DEPS" CMAKE_PREFIX_PATH="$DEPS/usr" CPLUS_INCLUDE_PATH="$DEPS/usr/include"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=OFF >"$OUT/configure.log" 2>&1 ||
  { tail -20 "$OUT/configure.log"; exit 1; }
ninja -C "$BUILD" -j16 encoder_latency tessera >"$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head; exit 1; }
nproc; grep -m1 "model name" /proc/cpuinfo; uptime
run() {  # threads wait_policy packed
  env OMP_NUM_THREADS=$1 ${2:+OMP_WAIT_POLICY=$2} TESSERA_PACKED_LINEAR=$3 \
    "$BUILD/bench/encoder_latency" "$MODEL" --device cpu --dtypes float32,bfloat16 --shapes "$SHAPES" \
    --runs 10 --warmup 2 2>/dev/null | sed "s/^/$1,${2:-spin},$3,/"
}
echo "threads,wait,packed,engine,device,dtype,batch,seq,padding,mode,median_ms,p90_ms,peak_mib" >"$OUT/cpu_threads.csv"
for t in $THREADS; do
  for wait in "" passive; do
    for packed in 0 1; do run "$t" "$wait" "$packed" | grep -v "^.*engine" >>"$OUT/cpu_threads.csv"; done
  done
done
cat "$OUT/cpu_threads.csv"
# Where the time goes at 16 threads (TESSERA_PROFILE=1 prints per-primitive totals at exit).
for wait in "" passive; do
  for packed in 0 1; do
    env OMP_NUM_THREADS=16 ${wait:+OMP_WAIT_POLICY=$wait} TESSERA_PACKED_LINEAR=$packed TESSERA_PROFILE=1 \
      "$BUILD/bench/encoder_latency" "$MODEL" --device cpu --dtypes float32 --shapes 1x128 --runs 5 --warmup 1 \
      >"$OUT/profile_16_${wait:-spin}_packed$packed.txt" 2>&1
  done
done
