#!/usr/bin/env bash
# The decoder benchmark on the lent GPU machine, one model a call: tessera (bf16 and --quantize 4),
# PyTorch (bf16, SDPA) and llama.cpp (BF16 and Q4_0 GGUF of the same weights) on a random
# checkpoint at the real shape, batch-1 decode and pp512; one table against the device's measured
# copy bandwidth and bf16 matmul rate (scripts/gpu/decoder_table.py). Nothing is compiled there.
#
#   On the dev machine:  scripts/gpu/lent_host_tables.sh --pack       (.gpu-carry: tessera + debs)
#                        scripts/gpu/build_llama_cpp.sh SRC           (.gpu-carry-dec: llama.cpp)
#   On the GPU machine:  MODELS=llama-3-8b scripts/gpu/decoder_tables.sh
#                        carry .gpu-carry/tessera.xz .gpu-carry/debs .gpu-carry-dec
#
# STEPS picks parts (default all): peak tessera tessera-q4 gguf llama-bf16 llama-q4 torch. Every step
# has a time limit, prints its seconds, and what needs a failed step is skipped; nothing starts
# after DEADLINE seconds (default 540) so the table always prints. Logs and results go to $OUT.
# Local test on a CPU (scaled-down configs under $TESSERA_HOME/configs): DEVICE=cpu
# BIN=build/release/tessera LLAMA_DIR=<cpu llama.cpp bin dir> PYTHON_PEER=<python with torch>.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
START=$SECONDS
OUT=${OUT:-/tmp/tessera-dec-out}
MODELS=${MODELS:-llama-3-8b}
STEPS=" ${STEPS:-peak tessera tessera-q4 gguf llama-bf16 llama-q4 torch} "
DEADLINE=${DEADLINE:-540}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-64}
SEQ=${SEQ:-512}  # prompt length (pp) and the context decode runs after
TG=${TG:-128}    # llama-bench tg tokens
CACHE=${CACHE:-/tmp/tessera-dec-cache}
GGUF_DIR=${GGUF_DIR:-/tmp/tessera-dec-gguf}
THREADS=${THREADS:-$(nproc)}
export TESSERA_HOME=${TESSERA_HOME:-$ROOT}
mkdir -p "$OUT" "$CACHE" "$GGUF_DIR"
has() { [[ "$STEPS" == *" $1 "* ]]; }
say() { echo "[$(printf '%4d' $((SECONDS - START))) s] $*"; }

# step NAME LIMIT_S CMD...: runs CMD with its output in $OUT/NAME.log, within LIMIT_S and the deadline.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - (SECONDS - START)))
  if ((left < 20)); then
    say "$name: skipped, ${left} s left before the deadline"
    return 1
  fi
  ((limit > left - 10)) && limit=$((left - 10))
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  say "$name: exit $rc after $((SECONDS - t0)) s (limit $limit s)"
  ((rc != 0)) && tail -6 "$OUT/$name.log" | sed 's/^/    /'
  return $rc
}

# --- binaries: tessera (the lead's .gpu-carry), llama.cpp (.gpu-carry-dec), CUDA libraries
unxz_to() { python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$1" "$2"; }
mkdir -p /tmp/tessera-bin
if [[ -z "${BIN:-}" ]]; then
  BIN=/tmp/tessera-bin/tessera
  [[ -x $BIN ]] || unxz_to .gpu-carry/tessera.xz "$BIN"
  chmod +x "$BIN"
fi
if [[ -z "${LLAMA_DIR:-}" ]]; then
  LLAMA_DIR=/tmp/tessera-bin
  for b in llama-bench llama-quantize; do
    [[ -x $LLAMA_DIR/$b ]] || { [[ -f .gpu-carry-dec/$b.xz ]] && unxz_to ".gpu-carry-dec/$b.xz" "$LLAMA_DIR/$b"; }
    chmod +x "$LLAMA_DIR/$b" 2>/dev/null
  done
fi
source scripts/gpu/carried_runtime.sh
use_runtime_libraries .gpu-carry/debs
for b in "$BIN" "$LLAMA_DIR/llama-bench" "$LLAMA_DIR/llama-quantize"; do
  [[ -x $b ]] || { say "missing $b"; continue; }
  missing=$(ldd "$b" 2>&1 | grep "not found")
  [[ -n "$missing" ]] && { say "$b misses libraries:"; echo "$missing"; }
done
# A tessera from before the fast random writer (src/models/weights.cpp random_weight) would spend
# minutes writing a float32 32 GB checkpoint: stop before spending device time on it.
if ! grep -q "random weights are float32, float16 or bfloat16" "$BIN"; then
  say "$BIN predates the fast random-checkpoint writer: rebuild it from a tree with it and pack again"
  exit 2
fi
# The torch peer runs under the machine's python3, without the unpacked libraries.
PYTHON_PEER=${PYTHON_PEER:-python3}
cat >"$OUT/python" <<PY
#!/usr/bin/env bash
exec env -u LD_LIBRARY_PATH TESSERA_TORCH_ATTENTION=\${TESSERA_TORCH_ATTENTION:-sdpa} $PYTHON_PEER "\$@"
PY
chmod +x "$OUT/python"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  lscpu | grep -E "Model name|^CPU\(s\)"
  free -g | head -2
  df -h /tmp | tail -1
  "$BIN" --version
  "$LLAMA_DIR/llama-bench" --version 2>&1 | tail -2
  "$LLAMA_DIR/llama-bench" --list-devices 2>&1 | tail -3
} >"$OUT/inventory.log" 2>&1
cat "$OUT/inventory.log"
say "binaries ready"

if has peak && [[ $DEVICE == cuda && ! -s $OUT/peak.json ]]; then
  step peak 90 env -u LD_LIBRARY_PATH "$PYTHON_PEER" scripts/gpu/decoder_table.py peak "$OUT/peak.json"
fi

NGL=99
[[ $DEVICE == cpu ]] && NGL=0
for model in $MODELS; do
  M=$OUT/$model
  mkdir -p "$M"
  [[ -s $OUT/peak.json ]] && cp "$OUT/peak.json" "$M/"
  DIR=$CACHE/models/$model-seed0
  common=(bench --models "$model" --device "$DEVICE" --dtype bfloat16 --batch 1 --seq "$SEQ" --runs "$RUNS"
    --warmup 3 --threads "$THREADS" --cache-dir "$CACHE")
  ok_ckpt=0
  if has tessera; then
    # Writes the random checkpoint (once), then times tessera on it.
    step "$model-tessera" 200 "$BIN" "${common[@]}" --json "$M/tessera-bf16.json" && ok_ckpt=1
    grep -E "^\|" "$OUT/$model-tessera.log" | tail -3
  fi
  [[ -s $DIR/model.safetensors ]] && ok_ckpt=1
  if has tessera-q4 && ((ok_ckpt)); then
    step "$model-tessera-q4" 120 "$BIN" "${common[@]}" --quantize 4 --json "$M/tessera-q4.json"
    grep -E "^\|" "$OUT/$model-tessera-q4.log" | tail -3
  fi
  BF16=$GGUF_DIR/$model-bf16.gguf
  Q4=$GGUF_DIR/$model-q4_0.gguf
  active=$(python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
e = c.get("num_experts") or c.get("num_local_experts")
print("%d/%d" % (c["num_experts_per_tok"], e) if e else "1/1")' "$DIR/config.json" 2>/dev/null || echo 1/1)
  if has gguf && ((ok_ckpt)); then
    step "$model-gguf" 150 python3 scripts/gpu/safetensors_to_gguf.py "$DIR" "$BF16" &&
      python3 scripts/gpu/safetensors_to_gguf.py --bytes "$BF16" --active-experts "$active" >"$M/llama-bf16.bytes"
  fi
  # llama-bench's JSON lines (stdout) and its markdown table (stderr) both land in the step's log.
  llama=("$LLAMA_DIR/llama-bench" -p "$SEQ" -n "$TG" -ngl "$NGL" -fa 1,0 -r "${LLAMA_REPS:-5}" -t "$THREADS" -o jsonl -oe md -m)
  if has llama-bf16 && [[ -s $BF16 ]]; then
    step "$model-llama-bf16" 120 "${llama[@]}" "$BF16"
    cp "$OUT/$model-llama-bf16.log" "$M/llama-bf16.jsonl"
    grep -E "^\|" "$OUT/$model-llama-bf16.log"
  fi
  if has llama-q4 && [[ -s $BF16 ]]; then
    step "$model-quantize" 150 "$LLAMA_DIR/llama-quantize" "$BF16" "$Q4" Q4_0 "$THREADS" &&
      python3 scripts/gpu/safetensors_to_gguf.py --bytes "$Q4" --active-experts "$active" >"$M/llama-q4_0.bytes"
    rm -f "$BF16"
    if [[ -s $Q4 ]]; then
      step "$model-llama-q4" 100 "${llama[@]}" "$Q4"
      cp "$OUT/$model-llama-q4.log" "$M/llama-q4_0.jsonl"
      grep -E "^\|" "$OUT/$model-llama-q4.log"
    fi
  fi
  rm -f "$BF16" "$Q4"
  if has torch && ((ok_ckpt)); then
    # A run of its own (tessera's rows come again, unused), so a slow peer costs only its rows.
    step "$model-torch" 200 "$BIN" "${common[@]}" --peers torch --python "$OUT/python" --json "$M/torch.json"
    grep -E "^\|" "$OUT/$model-torch.log" | tail -3
  fi
  say "$model: table"
  [[ -s $DIR/config.json ]] && python3 scripts/gpu/decoder_table.py table "$DIR" "$M" | tee "$M/table.md"
  [[ "${KEEP_CHECKPOINT:-0}" == 1 ]] || rm -rf "$DIR"
done
say "done"
