#!/usr/bin/env bash
# On the lent GPU machine: the suite of docs/benchmarks.md ("Benchmark suite") on CUDA and the
# host CPU, against PyTorch (eager/SDPA) and real MLX (mlx-cuda-13) where installed. Builds
# with run_gpu.sh's deps and build steps first. Results (JSON, CSV, PNG, the table) go to $OUT.
#
#   scripts/gpu/bench_suite.sh [extra tessera bench options]
#
# The machine's python3 has torch + transformers; MLX for CUDA is installed from a wheel carried
# in .deps/wheels (pip download mlx-cuda-13 on the dev machine) when present, never fetched here.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/tessera-gpu-out}
BUILD=${BUILD:-/tmp/tessera-build}
export OUT BUILD
mkdir -p "$OUT"

"$ROOT/scripts/gpu/run_gpu.sh" inventory deps build || exit 1
if compgen -G "$ROOT/.deps/wheels/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --find-links "$ROOT/.deps/wheels" mlx-cuda-13 mlx-transformers ||
    echo "mlx wheels did not install: the mlx rows will say why"
fi
# run_gpu.sh unpacks the Debian -dev packages under /tmp/deps; the binary needs their libraries.
[[ -d /tmp/deps/usr/lib/x86_64-linux-gnu ]] &&
  export LD_LIBRARY_PATH="/tmp/deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The peers run under the machine's own python3 (its torch), without the unpacked libraries.
cat >"$OUT/python" <<'PY'
#!/usr/bin/env bash
exec env -u LD_LIBRARY_PATH python3 "$@"
PY
chmod +x "$OUT/python"

# The paper's grid on the GPU; the quick grid on the host CPU (the paper grid's 128x512 cases on
# a CPU would outlast the machine's 10-minute command limit).
suite() {
  local name=$1
  shift
  "$BUILD/tessera" bench --peers torch,onnxruntime,mlx,mlx-transformers --python "$OUT/python" \
    --cache-dir "$OUT/cache" --json "$OUT/$name.json" --csv "$OUT/$name.csv" --plot "$OUT/$name.png" "$@" |
    tee "$OUT/$name.md"
}
suite bench-cuda --grid paper --device cuda --dtype float32,float16 "$@"
suite bench-cpu --grid quick --device cpu "$@"
