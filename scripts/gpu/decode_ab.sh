#!/usr/bin/env bash
# Decode-step A/B on the lent GPU: Llama-3-8B's layer shapes with LAYERS layers (default 8; the
# random checkpoint is written in seconds), one decode step after SEQ (512) prompt tokens, median
# of RUNS (64), bf16 and each of QUANTIZE (default "4"), every binary given, REPS (2) times
# interleaved so drift shows. MODEL=olmoe-1b-7b takes that config instead.
#   scripts/gpu/decode_ab.sh /tmp/old/tessera /tmp/tessera-bin/tessera
# (carry .gpu-carry/debs and the binaries; source of the runtime libraries: carried_runtime.sh)
set -u
source scripts/gpu/carried_runtime.sh
use_runtime_libraries .gpu-carry/debs
MODEL=${MODEL:-llama-3-8b}
home=/tmp/tessera-ab-home
rm -rf "$home" && mkdir -p "$home/configs/slice" && cp -r configs/. "$home/configs/"
python3 - "$MODEL" "${LAYERS:-8}" "$home/configs/slice/config.json" <<'PY'
import json, sys
c = json.load(open(f"configs/{sys.argv[1]}/config.json")); c["num_hidden_layers"] = int(sys.argv[2])
json.dump(c, open(sys.argv[3], "w"), indent=1)
PY
export TESSERA_HOME=$home
for q in "" ${QUANTIZE-4}; do
  for rep in $(seq "${REPS:-2}"); do
    for bin in "$@"; do
      row=$("$bin" bench --models slice --device cuda --dtype bfloat16 --batch 1 --seq "${SEQ:-512}" --runs "${RUNS:-64}" \
        --warmup 3 --tasks decode --cache-dir /tmp/ab-cache ${q:+--quantize $q} 2>&1 | grep -E '^\|' | tail -1 |
        awk -F'|' '{print $7, $8}')
      echo "$MODEL x${LAYERS:-8} ${q:+q$q}${q:-bf16} $bin: median/p90 ms $row"
    done
  done
done
