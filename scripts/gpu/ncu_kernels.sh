#!/usr/bin/env bash
# Per-kernel GPU time of one tessera forward pass (bert-base float16) under Nsight Compute, and
# the same for PyTorch's SDPA forward, on the lent machine: which kernels take the time.
#   STEPS="tessera torch" SHAPE=32x512 scripts/gpu/ncu_kernels.sh     (carry .gpu-carry)
# Step "nsys-decode": in-stream kernel durations and gaps of a decode step (Nsight Systems).
# Step "decode": one Llama-3-8B pp512 prefill and one decode step after it (the bench's timed
# runs: 10 of each, the minimum), bf16 and QUANTIZE=4 (bench's --quantize; empty: bf16 only).
set -u
OUT=${OUT:-/tmp/ncu-out}; mkdir -p "$OUT"
SHAPE=${SHAPE:-32x512}
NCU=/usr/local/cuda/bin/ncu
source scripts/gpu/carried_runtime.sh
unpack_binaries /tmp .gpu-carry/*.xz
use_runtime_libraries .gpu-carry/debs
if [[ " ${STEPS:-tessera torch} " == *" tessera "* || " ${STEPS:-tessera torch} " == *" torch "* ]]; then
  /tmp/tessera bench --models bert-base --device cuda --dtype float16 --batch 1 \
    --seq 16 --runs 10 --cache-dir /tmp/c >/dev/null 2>&1
  M=$(ls -d /tmp/c/models/bert-base*)
fi
summarize() {
  python3 - "$1" <<'PY'
import csv, sys, collections
rows = list(csv.reader(l for l in open(sys.argv[1]) if l.startswith('"')))
head = rows[0]; rows = rows[1:]
ki = head.index("Kernel Name"); mi = head.index("Metric Value"); ui = head.index("Metric Unit")
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in rows:
    v = float(r[mi].replace(",", "")); unit = r[ui]
    us = v / 1e3 if unit == "nsecond" else v if unit == "usecond" else v * 1e3
    name = r[ki][:90]; tot[name] += us; cnt[name] += 1
all_us = sum(tot.values())
print(f"{sys.argv[1]}: {sum(cnt.values())} kernels, {all_us/1e3:.3f} ms")
for n, us in sorted(tot.items(), key=lambda x: -x[1])[:25]:
    print(f"{us:9.1f} us {cnt[n]:4d}x {us/cnt[n]:8.1f} us/call  {n}")
PY
}
for step in ${STEPS:-tessera torch}; do
  case $step in
    tessera)
      # encoder_latency brackets its timed runs for profilers: warm-up and GEMM tuning are skipped.
      timeout 240 $NCU --metrics gpu__time_duration.sum --csv --profile-from-start off \
        /tmp/encoder_latency "$M" --device cuda --dtypes float16 --shapes "$SHAPE" --runs 1 --warmup 1 \
        >"$OUT/ncu_tessera.csv" 2>"$OUT/ncu_tessera.err"
      echo "exit $?"; tail -2 "$OUT/ncu_tessera.err"
      summarize "$OUT/ncu_tessera.csv"
      ;;
    torch)
      cat >/tmp/torch_fwd.py <<PY
import torch, transformers, sys
m = transformers.AutoModel.from_pretrained("$M", attn_implementation="sdpa", torch_dtype=torch.float16).cuda().eval()
b, s = map(int, "$SHAPE".split("x"))
ids = torch.randint(1000, 20000, (b, s), device="cuda")
with torch.inference_mode():
    for _ in range(2): m(input_ids=ids)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    m(input_ids=ids)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()
PY
      env -u LD_LIBRARY_PATH timeout 240 $NCU --metrics gpu__time_duration.sum --csv --profile-from-start off python3 /tmp/torch_fwd.py \
        >"$OUT/ncu_torch.csv" 2>"$OUT/ncu_torch.err"
      echo "exit $?"; tail -2 "$OUT/ncu_torch.err"
      summarize "$OUT/ncu_torch.csv"
      ;;
    decode)
      export TESSERA_HOME=$PWD
      for q in "" ${QUANTIZE-4}; do
        name=ncu_decode${q:+_q$q}
        # Clocks and caches as in a real run (ncu locks base clocks and flushes caches by default).
        timeout 300 $NCU --metrics gpu__time_duration.sum --csv --profile-from-start off \
          --clock-control none --cache-control none \
          /tmp/tessera bench --models llama-3-8b --device cuda --dtype bfloat16 --batch 1 --seq 512 --runs 10 \
          --warmup 1 --cache-dir /tmp/dc ${q:+--quantize $q} >"$OUT/$name.csv" 2>"$OUT/$name.err"
        echo "exit $?"; tail -2 "$OUT/$name.err"
        summarize "$OUT/$name.csv"
      done
      ;;
    decode-detail)
      # Why a decode step's small kernels take what they take: Llama-3-8B's layer shapes with
      # LAYERS (default 4) layers, so the random checkpoint is written in seconds. First the step
      # time against the prompt length (what attention over the cache costs), then Nsight's
      # detailed sections (occupancy, launch, warp stall reasons) for KERNELS (a regex); QUANTIZE=4
      # for 4-bit weights.
      home=/tmp/tessera-home; rm -rf "$home"; mkdir -p "$home/configs/l8b-slice"
      cp -r configs/. "$home/configs/"
      python3 - "$home/configs/l8b-slice/config.json" "${LAYERS:-4}" <<'PY'
import json, sys
c = json.load(open("configs/llama-3-8b/config.json")); c["num_hidden_layers"] = int(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
      export TESSERA_HOME=$home
      for seq in ${SEQS-16 512 2048}; do
        /tmp/tessera bench --models l8b-slice --device cuda --dtype bfloat16 --batch 1 --seq $seq --runs 32 \
          --warmup 3 --tasks decode --cache-dir /tmp/dd ${QUANTIZE:+--quantize $QUANTIZE} 2>&1 | grep -E "^\|" | tail -1
      done
      timeout 300 $NCU --set full -k "regex:${KERNELS:-decode_partial|decode_merge|rms|gemv|rope|slice|add}" -c "${COUNT:-40}" \
        --clock-control none --profile-from-start off \
        /tmp/tessera bench --models l8b-slice --device cuda --dtype bfloat16 --batch 1 --seq 512 --runs 10 \
        --warmup 1 --tasks decode --cache-dir /tmp/dd ${QUANTIZE:+--quantize $QUANTIZE} >"$OUT/ncu_detail.txt" 2>"$OUT/ncu_detail.err"
      echo "exit $?"; tail -2 "$OUT/ncu_detail.err"
      python3 - "$OUT/ncu_detail.txt" <<'PY'
import re, sys
# One line per profiled kernel: duration, registers, achieved occupancy, grid, top stall.
text = open(sys.argv[1]).read()
for block in re.split(r"\n  (?=\S.*\(\d+, \d+, \d+\)x\(\d+, \d+, \d+\))", text)[1:]:
    head = block.splitlines()[0].strip()
    def metric(name):
        m = re.search(r"\n\s+" + re.escape(name) + r"\s+(\S+)\s+([\d.,]+)", block)
        return (m.group(2) + " " + m.group(1)) if m else "?"
    print(head[:110])
    print("   duration", metric("Duration"), "| regs", metric("Registers Per Thread"),
          "| achieved occ", metric("Achieved Occupancy"), "| DRAM thr", metric("DRAM Throughput"),
          "| mem thr", metric("Memory Throughput"))
PY
      ;;
    nsys-decode)
      # Kernel durations and the gaps between them as they run in the replayed decode graph (Nsight
      # Systems traces graph nodes in the stream; ncu serialises each kernel): Llama-3-8B's layer
      # shapes with LAYERS layers (default 4), bf16 and QUANTIZE (default 4), SEQS[0] prompt tokens.
      NSYS=$(ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys /usr/local/cuda/nsight-systems*/bin/nsys 2>/dev/null | head -1)
      [[ -n "$NSYS" ]] || { echo "nsys-decode: no nsys on this machine"; continue; }
      home=/tmp/tessera-home; rm -rf "$home"; mkdir -p "$home/configs/l8b-slice"
      cp -r configs/. "$home/configs/"
      python3 - "$home/configs/l8b-slice/config.json" "${LAYERS:-4}" <<'PY'
import json, sys
c = json.load(open("configs/llama-3-8b/config.json")); c["num_hidden_layers"] = int(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
      export TESSERA_HOME=$home
      for q in "" ${QUANTIZE-4}; do
        name=nsys_decode${q:+_q$q}
        timeout 200 "$NSYS" profile --cuda-graph-trace=node --trace=cuda -o "$OUT/$name" --force-overwrite true \
          /tmp/tessera bench --models l8b-slice --device cuda --dtype bfloat16 --batch 1 --seq "${SEQS%% *}" --runs 32 \
          --warmup 3 --tasks decode --cache-dir /tmp/dd ${q:+--quantize $q} >"$OUT/$name.log" 2>&1
        echo "$name: exit $?; $(grep -E '^\|' "$OUT/$name.log" | tail -1)"
        "$NSYS" stats --report cuda_gpu_trace --format csv --output "$OUT/$name" "$OUT/$name.nsys-rep" >/dev/null 2>&1
        python3 scripts/gpu/kernel_gaps.py "$OUT/${name}_cuda_gpu_trace.csv" "${LAYERS:-4}"
        rm -f "$OUT/$name.nsys-rep" "$OUT/$name.sqlite"
      done
      ;;
  esac
done
