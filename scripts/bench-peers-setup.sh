#!/usr/bin/env bash
# Creates a Python virtual environment with every peer engine `tessera bench --peers` drives,
# from PyPI: PyTorch + transformers (torch-eager, torch-sdpa), ONNX Runtime (+ onnx/onnxscript
# for the export), MLX (mlx[cpu] on Linux; mlx-cuda-13 where an NVIDIA GPU is present),
# mlx-transformers, and matplotlib for --plot. torch from PyPI is a multi-GB download: fine for
# the benchmark, not for CI.
#
#   scripts/bench-peers-setup.sh [VENV_DIR]     (default: build/peers-venv)
#   then: build/release/tessera bench --peers torch,onnxruntime,mlx,mlx-transformers --python VENV_DIR/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/peers-venv}

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"

mlx_package="mlx[cpu]"
command -v nvidia-smi >/dev/null 2>&1 && mlx_package="mlx-cuda-13"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q torch transformers safetensors numpy onnx onnxscript onnxruntime \
  "$mlx_package" mlx-transformers matplotlib
"$venv/bin/python" - <<'PY'
import importlib
for name in ("torch", "transformers", "onnxruntime", "mlx.core", "mlx_transformers", "matplotlib"):
    module = importlib.import_module(name)
    print(f"{name:18} {getattr(module, '__version__', 'installed')}")
PY
echo "peers ready: --python $venv/bin/python (or export TESSERA_PYTHON=$venv/bin/python)"
