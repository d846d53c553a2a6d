#!/usr/bin/env bash
# Runs every gemm_compare executable over the BERT-base shapes at 1 and 2 threads and pivots the
# rows into docs-ready tables. Usage: bench/gemm_compare.sh BUILD_DIR OUT_DIR [extra harness args]
# On a machine with more cores, pin it to two (taskset -c 0,1 bench/gemm_compare.sh ...) to
# measure what the 2-core target sees.
# OpenBLAS is run twice: with OPENBLAS_CORETYPE removed (its own CPU detection) and with it set
# (the environment's value, else Cooperlake, the newest x86 kernel set OpenBLAS 0.3.21 has).
set -euo pipefail
build=$1
out=$2
shift 2
mkdir -p "$out"
coretype=${OPENBLAS_CORETYPE:-Cooperlake}
bench=$build/bench

echo "OPENBLAS_CORETYPE in the environment: ${OPENBLAS_CORETYPE:-(unset)}" >"$out/environment.txt"
{ uptime; lscpu; } >>"$out/environment.txt"

env -u OPENBLAS_CORETYPE "$bench/gemm_compare_openblas" "$@" >"$out/openblas_detected.tsv"
OPENBLAS_CORETYPE=$coretype "$bench/gemm_compare_openblas" "$@" | sed 's/^openblas\t/openblas-coretype\t/' \
  >"$out/openblas_coretype.tsv"
"$bench/gemm_compare_blis" "$@" >"$out/blis.tsv"
"$bench/gemm_compare_onednn" "$@" >"$out/onednn.tsv"
python3 "$(dirname "$0")/gemm_compare_table.py" "$out"/*.tsv >"$out/tables.md"
cat "$out/tables.md"
