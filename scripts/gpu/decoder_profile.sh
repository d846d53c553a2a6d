#!/usr/bin/env bash
# Llama-3-8B on the lent GPU: tessera bench prefill/decode, then TESSERA_PROFILE=1 over a 65-token
# generation (per-primitive times, each waited for).   carry .gpu-carry/tessera.xz .gpu-carry/debs
set -u
OUT=${OUT:-/tmp/o}; mkdir -p $OUT
source scripts/gpu/carried_runtime.sh
unpack_binaries /tmp .gpu-carry/tessera.xz
use_runtime_libraries .gpu-carry/debs
export TESSERA_HOME=$PWD
/tmp/tessera bench --models llama-3-8b --device cuda --dtype bfloat16 --batch 1 --seq 512 --runs 20 --cache-dir /tmp/dc 2>&1 | grep -E "llama|error" | tail -4
M=$(ls -d /tmp/dc/models/llama-3-8b*)
IDS=$(python3 -c "print(','.join(str(i) for i in range(1000,1128)))")
TESSERA_PROFILE=1 /tmp/tessera generate $M --device cuda --dtype bfloat16 --prompt-ids $IDS --max-tokens 65 --json 2>&1 | tail -32
