#!/usr/bin/env bash
# The main job from a fresh clone: install, build, then show tessera working on this machine:
# every op checked against float64 on every device here, a real sentence embedding from the
# packaged all-MiniLM-L6-v2, and the benchmark suite (BERT/RoBERTa/XLM-R base, CPU and CUDA where
# present). The peers (PyTorch, ONNX Runtime, MLX) join the table when their venv exists:
# scripts/bench-peers-setup.sh makes it (build/peers-venv), or point TESSERA_PYTHON at one.
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

echo; echo "== benchmark suite: BERT/RoBERTa/XLM-R base (random weights), batch 1,8 x sequence 16,128 =="
peer_python=${TESSERA_PYTHON:-build/peers-venv/bin/python}
peers=()
if [[ -x "$peer_python" ]]; then
  peers=(--peers torch,onnxruntime,mlx,mlx-transformers --python "$peer_python")
else
  echo "(tessera only: run scripts/bench-peers-setup.sh once to add PyTorch, ONNX Runtime and MLX)"
fi
"$tessera" bench "${peers[@]}" --json build/bench-results.json --csv build/bench-results.csv
