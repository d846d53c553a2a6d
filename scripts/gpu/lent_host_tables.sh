#!/usr/bin/env bash
# The lent GPU machine's tables in one short call, with a binary built on the dev machine: the
# benchmark suite on CUDA (tessera vs PyTorch, the paper's grid) and on the host CPU at 16 threads
# (tessera vs PyTorch). Device time is scarce, so nothing is compiled there.
#
#   On the dev machine:   scripts/gpu/lent_host_tables.sh --pack   (copies build/release/tessera
#                         into .prebuilt/, ignored by git; .deps/ comes from fetch-debs.sh)
#   On the GPU machine:   scripts/gpu/lent_host_tables.sh          (carry .prebuilt and .deps)
#
# Steps can be narrowed: STEPS="cuda cpu16" (default both). Results (JSON, CSV, PNG, the tables)
# go to $OUT; the tables print last.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

if [[ "${1:-}" == "--pack" ]]; then
  mkdir -p .prebuilt
  grep -qx "/.prebuilt/" .git/info/exclude || echo "/.prebuilt/" >>.git/info/exclude
  cp build/release/tessera .prebuilt/tessera
  strip .prebuilt/tessera
  ls -la .prebuilt .deps | head -40
  exit 0
fi

OUT=${OUT:-/tmp/tessera-gpu-out}
STEPS=${STEPS-"cuda cpu16"}
CACHE=/tmp/tessera-bench-cache
mkdir -p "$OUT" "$CACHE"
BIN="$ROOT/.prebuilt/tessera"

# The binary's Debian libraries (oneDNN, utf8proc, pcre2) unpacked beside it, never into /; CUDA
# 13's runtime and cuBLASLt from the machine's toolkit or its Python wheels.
mkdir -p /tmp/deps
for deb in .deps/libdnnl2_*.deb .deps/libutf8proc2_*.deb .deps/libpcre2-8-0_*.deb; do
  dpkg -x "$deb" /tmp/deps
done
libs=/tmp/deps/usr/lib/x86_64-linux-gnu
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  $(python3 -c 'import glob, nvidia, os; [print(p) for b in nvidia.__path__ for p in glob.glob(os.path.join(b, "*", "lib"))]' 2>/dev/null); do
  [[ -d "$d" ]] && libs="$libs:$d"
done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
missing=$(ldd "$BIN" | grep "not found")
[[ -n "$missing" ]] && { echo "the prebuilt binary misses libraries:"; echo "$missing"; exit 1; }

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  lscpu | grep -E "Model name|^CPU\(s\)"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  "$BIN" --version
} 2>&1 | tee "$OUT/inventory.log"

# The peers run under the machine's own python3 (its torch), without the unpacked libraries.
cat >"$OUT/python" <<'PY'
#!/usr/bin/env bash
exec env -u LD_LIBRARY_PATH python3 "$@"
PY
chmod +x "$OUT/python"

suite() {
  local name=$1 limit=$2
  shift 2
  echo "=== $name: tessera bench $*"
  timeout "$limit" "$BIN" bench --peers torch --python "$OUT/python" --cache-dir "$CACHE" \
    --json "$OUT/$name.json" --csv "$OUT/$name.csv" "$@" >"$OUT/$name.md" 2>"$OUT/$name.err"
  echo "exit $?" >>"$OUT/$name.err"
  tail -3 "$OUT/$name.err"
}

for step in $STEPS; do
  case "$step" in
    cuda)
      suite cuda-paper 150 --device cuda --dtype float16 --grid paper --runs 10 \
        --models bert-base,roberta-base,xlm-roberta-base
      suite cuda-padding 40 --device cuda --dtype float16 --models bert-base --batch 32 --seq 128 \
        --padding 0.5 --runs 10
      ;;
    cpu16)
      suite cpu16 100 --device cpu --threads 16 --models bert-base --batch 1,8 --seq 128 \
        --dtype float32,bfloat16 --runs 10
      suite cpu16-512 50 --device cpu --threads 16 --models bert-base --batch 1 --seq 512 \
        --dtype float32,bfloat16 --runs 10
      ;;
    *) echo "unknown step $step" ;;
  esac
done
for f in "$OUT"/*.md; do
  echo "=== $(basename "$f")"
  cat "$f"
done
