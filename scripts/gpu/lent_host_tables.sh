#!/usr/bin/env bash
# The lent GPU machine's tables in one short call, with a binary built on the dev machine: the
# benchmark suite on CUDA (tessera vs PyTorch vs real MLX, the paper's grid) and on the host CPU at
# 16 threads (tessera vs PyTorch). Device time is scarce, so nothing is compiled there.
#
#   On the dev machine:   scripts/gpu/lent_host_tables.sh --pack
#       fills .gpu-carry/ (ignored by git): build/release/tessera and the CUDA-running tests
#       (xz-compressed), the three Debian runtime
#       libraries it links (from .deps/, made by scripts/gpu/fetch-debs.sh), and the mlx +
#       mlx-cuda-13 wheels with mlx-cuda's non-sm_90 device code blanked (slim_fatbin.py) so the
#       whole carry fits one call's 64 MiB.
#   On the GPU machine:   scripts/gpu/lent_host_tables.sh          (carry .gpu-carry)
#
# Steps can be chosen: STEPS="cudatests cuda latency cuda-mlx cpu16 cpu16-512" (the default;
# cuda-more adds RoBERTa and XLM-R on the GPU and a padded batch; quant: bert-base fp16 dense/q8/q4;
# cpu16-q8: 8-bit weights with bfloat16 activations at 16 threads; latency needs the cuda step's
# checkpoint). Results (JSON, CSV, the tables) go to
# $OUT; the tables print last.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CARRY=.gpu-carry
MLX_VERSION=${MLX_VERSION:-0.32.4}

if [[ "${1:-}" == "--pack" ]]; then
  set -e
  rm -rf "$CARRY" && mkdir -p "$CARRY/debs" "$CARRY/wheels"
  grep -qx "/$CARRY/" .git/info/exclude || echo "/$CARRY/" >>.git/info/exclude
  for bin in tessera tests/test_core tests/test_cuda tests/test_models tests/test_decoders bench/encoder_latency \
    bench/tokenizer_bench; do
    strip -o "$CARRY/$(basename $bin)" "build/release/$bin" && xz -T2 -6 "$CARRY/$(basename $bin)"
  done
  # The published tokenizer.json files bench/tokenizer_bench.py downloads, for the load-time row
  # on an idle machine (step tokload).
  mkdir -p "$CARRY/tokenizers"
  for name in llama3.2 qwen2.5; do
    f=${TOKENIZER_CACHE:-/tmp/tessera-tokenizer-bench}/$name/tokenizer.json
    [[ -f "$f" ]] && xz -T2 -6 -c "$f" >"$CARRY/tokenizers/$name.json.xz"
  done
  cp .deps/libdnnl2_*.deb .deps/libutf8proc2_*.deb .deps/libpcre2-8-0_*.deb "$CARRY/debs/"
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_35_x86_64 -d "$tmp" "mlx==$MLX_VERSION" "mlx-cuda-13==$MLX_VERSION"
  cp "$tmp"/mlx-"$MLX_VERSION"-*.whl "$CARRY/wheels/"
  wheel=$(basename "$tmp"/mlx_cuda_13-*.whl)
  mkdir "$tmp/unpacked" && (cd "$tmp/unpacked" && unzip -q "../$wheel")
  python3 scripts/gpu/slim_fatbin.py "$tmp/unpacked/mlx/lib/libmlx.so" --keep-sm 90
  (cd "$tmp/unpacked" && zip -q -r -9 "$ROOT/$CARRY/wheels/$wheel" .)
  rm -rf "$tmp"
  du -ab "$CARRY" | sort -n | tail -8
  exit 0
fi

OUT=${OUT:-/tmp/tessera-gpu-out}
STEPS=${STEPS-"cudatests cuda latency cuda-mlx cpu16 cpu16-512"}
CACHE=/tmp/tessera-bench-cache
mkdir -p "$OUT" "$CACHE"
BIN=/tmp/tessera-bin/tessera
source scripts/gpu/carried_runtime.sh
unpack_binaries /tmp/tessera-bin "$CARRY"/*.xz
use_runtime_libraries "$CARRY/debs"
missing=$(ldd "$BIN" | grep "not found")
[[ -n "$missing" ]] && { echo "the prebuilt binary misses libraries:"; echo "$missing"; exit 1; }

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  lscpu | grep -E "Model name|^CPU\(s\)"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  "$BIN" --version
} 2>&1 | tee "$OUT/inventory.log"

# MLX beside the machine's torch: its wheels into /tmp/site, whose nvidia/ is torch's CUDA wheels
# (libmlx.so looks for cuBLAS, cuDNN, NCCL, NVRTC there, relative to itself).
if python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$CARRY"/wheels/*.whl; then
  ln -sfn "$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])')" /tmp/site/nvidia
else
  echo "the mlx wheels did not install: the mlx rows will say why"
fi
# The peers run under the machine's own python3 (its torch) and MLX, without the unpacked libraries.
cat >"$OUT/python" <<'PY'
#!/usr/bin/env bash
exec env -u LD_LIBRARY_PATH PYTHONPATH=/tmp/site python3 "$@"
PY
chmod +x "$OUT/python"

suite() {
  local name=$1 limit=$2
  shift 2
  echo "=== $name: tessera bench $*"
  timeout "$limit" "$BIN" bench --python "$OUT/python" --cache-dir "$CACHE" \
    --json "$OUT/$name.json" --csv "$OUT/$name.csv" "$@" >"$OUT/$name.md" 2>"$OUT/$name.err"
  echo "exit $?" >>"$OUT/$name.err"
  tail -3 "$OUT/$name.err"
}

# Each suite has its own time limit, so one that overruns costs only its own table; the order puts
# the runs the docs need most first.
for step in $STEPS; do
  case "$step" in
    cuda)
      suite cuda-bert 40 --peers torch --device cuda --dtype float16 --grid paper --runs 10 \
        --models bert-base
      ;;
    cuda-mlx)
      # MLX compiles each shape on its first run (15-20 s on the H200): a budget above that.
      suite cuda-mlx 120 --peers mlx --device cuda --dtype float16 --batch 1,8,32,128 --seq 128,512 \
        --runs 10 --models bert-base --peer-max-run-s 40
      ;;
    cpu16)
      suite cpu16 150 --peers torch --device cpu --threads 16 --models bert-base --batch 1,8 --seq 128 \
        --dtype float32,bfloat16 --runs 10
      ;;
    cpu16-512)
      suite cpu16-512 80 --peers torch --device cpu --threads 16 --models bert-base --batch 1 --seq 512 \
        --dtype float32,bfloat16 --runs 10
      ;;
    cpu16-q8)
      # 8-bit MLX weights with bfloat16 activations (issue 7's int8-weights row), tessera only: the
      # PyTorch float32 rows of cpu16 / cpu16-512 are the reference.
      suite cpu16-q8 150 --device cpu --threads 16 --models bert-base --batch 1,8 --seq 128 --dtype bfloat16 \
        --quantize 8 --runs 10
      suite cpu16-q8-512 80 --device cpu --threads 16 --models bert-base --batch 1 --seq 512 --dtype bfloat16 \
        --quantize 8 --runs 10
      ;;
    cudatests)
      # The CUDA cases of the op table (float64 references), the attention paths, and the encoder
      # and decoder fixtures. The tests were built with the fixtures at /work/main/tests/fixtures.
      echo "=== cudatests"
      [[ -e /work/main ]] || { mkdir -p /work && ln -s "$ROOT" /work/main; }
      for t in "test_core *cuda*:*Cuda* 40" "test_cuda * 10" "test_models *cuda* 25" "test_decoders *cuda* 60"; do
        read -r bin filter limit <<<"$t"
        (cd /tmp && timeout "$limit" env OMP_WAIT_POLICY=passive "/tmp/tessera-bin/$bin" --gtest_filter="$filter" \
          >"$OUT/$bin.log" 2>&1)
        echo "$bin: exit $?, $(grep -E '^\[  PASSED  \]' "$OUT/$bin.log")"
        grep -E '^\[  FAILED  \] .*\(' "$OUT/$bin.log" | head -15
      done
      ;;
    latency)
      # CUDA graph against CUDA graph: tessera's GraphedModel and torch.cuda.CUDAGraph on the same
      # bert-base checkpoint (the suite's), all tokens real and half of each row padding.
      echo "=== latency"
      model=$(ls -d "$CACHE"/models/bert-base-uncased-seed* | head -1)
      common=(--runs 20 --warmup 3)
      shapes=1x128,8x128,32x128,32x512,128x128
      {
        timeout 60 /tmp/tessera-bin/encoder_latency "$model" --device cuda --graph --dtypes float16,bfloat16 \
          --shapes "$shapes" "${common[@]}"
        timeout 30 /tmp/tessera-bin/encoder_latency "$model" --device cuda --graph --dtypes float16 \
          --shapes 32x128,32x512 --padding 0.5 "${common[@]}"
      } >"$OUT/tessera.csv" 2>"$OUT/tessera.err" || tail -5 "$OUT/tessera.err"
      {
        timeout 90 "$OUT/python" bench/peers/pytorch_encoder.py "$model" --graph --dtypes float16 \
          --shapes "$shapes" "${common[@]}"
        timeout 30 "$OUT/python" bench/peers/pytorch_encoder.py "$model" --graph --dtypes float16 \
          --shapes 32x128,32x512 --padding 0.5 "${common[@]}"
      } >"$OUT/pytorch.csv" 2>"$OUT/pytorch.err" || tail -5 "$OUT/pytorch.err"
      python3 scripts/gpu/compare_table.py "$OUT/tessera.csv" "$OUT/pytorch.csv" >"$OUT/latency.md"
      ;;
    tokload)
      # tokenizer.json load time on an idle core (the dev machine is shared), tessera and the
      # Python tokenizers library on the same files.
      echo "=== tokload"
      for f in "$CARRY"/tokenizers/*.json.xz; do
        name=$(basename "$f" .json.xz)
        python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$f" "/tmp/$name.json"
        echo "$name: tessera $(taskset -c 2 /tmp/tessera-bin/tokenizer_bench "/tmp/$name.json" --load-only --repeats 20 2>&1 | tail -1)"
        env -u LD_LIBRARY_PATH taskset -c 3 python3 - "/tmp/$name.json" <<'PY'
import statistics, sys, time
from tokenizers import Tokenizer
ms = []
for _ in range(10):
    t = time.perf_counter(); Tokenizer.from_file(sys.argv[1]); ms.append((time.perf_counter() - t) * 1e3)
print(f"  python tokenizers: best {min(ms):.1f} ms, median {statistics.median(ms):.1f} ms")
PY
      done | tee "$OUT/tokload.log"
      ;;
    cuda-more)
      suite cuda-roberta-xlmr 100 --peers torch --device cuda --dtype float16 --grid paper --runs 10 \
        --models roberta-base,xlm-roberta-base
      suite cuda-padding 40 --peers torch --device cuda --dtype float16 --models bert-base --batch 32 \
        --seq 128 --padding 0.5 --runs 10
      ;;
    quant)
      # Issue 8's GPU speed rows: bert-base float16 with dense, 8-bit and 4-bit weights (tessera only).
      for q in 0 8 4; do
        suite cuda-quant-$q 60 --device cuda --dtype float16 --models bert-base --batch 1,32 --seq 2,128 \
          --runs 20 $([[ $q != 0 ]] && echo --quantize $q)
      done
      ;;
    *) echo "unknown step $step" ;;
  esac
done
shopt -s nullglob
for f in "$OUT"/*.md; do
  echo "=== $(basename "$f")"
  cat "$f"
done
