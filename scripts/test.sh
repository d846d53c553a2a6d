#!/usr/bin/env bash
# Everything from a fresh clone to a passing test suite: system packages, the real test model,
# a release build (CUDA backend too when nvcc is present) and ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/fetch-models.sh >/dev/null
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release -j "$(nproc)"
