#!/usr/bin/env bash
# End-to-end tuning of 4-bit g64 all-MiniLM-L6-v2 on a lent GPU machine, from the bundle made by
#   python scripts/quantization/gpu_bundle.py pack /tmp/q4cal_aug \
#       --corpus /work/calib/corpus.txt,tests/fixtures/calibration/calibration_augmented.txt --output .gpu-carry-q8/bundle
# Run from the repository root (carry .gpu-carry-q8):  bash scripts/quantization/gpu_tune.sh
# Writes $OUT/<variant>/{delta.safetensors,delta.safetensors.json,log.json,stdout.txt}, $OUT/chosen.txt
# (the other variants' delta.safetensors are removed unless KEEP_ALL is set).
# The variants run at the same time on the one GPU (MiniLM leaves it mostly idle); each keeps its
# evaluated state with the best corpus-sample minimum (400 corpus texts left out of training), and
# the variant is chosen by that too, never by the test or held-out sets (those are only reported).
# Settings (environment): OUT, BUNDLE (.gpu-carry-q8/bundle), DEVICE (cuda), MAX_SECONDS (480, per
# variant from its start), VARIANTS ("base low emb tail"; also "ada": learned rounding), BATCH (64), EVAL_SECONDS (20: evaluate
# after every 20 s of training),
# THREADS (3 per variant), PYTHON (python3), EXTRA (more e2e_tune.py arguments for every variant),
# INIT_DELTA (continue from an earlier run's delta.safetensors, with its .json beside it; put both
# under .gpu-carry-q8/ so they travel), GRACE (90 s: a variant still running at MAX_SECONDS + GRACE is killed and leaves only its log),
# KEEP_ALL (set: keep every variant's delta; by default only the chosen one's, so $OUT stays small).
set -uo pipefail
die() { echo "gpu_tune.sh: $*" >&2; exit 1; }
cd "$(dirname "$0")/../.." || die "cannot cd to the repository root"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1   # no network there: never wait on the hub
BUNDLE=${BUNDLE:-.gpu-carry-q8/bundle}
DEVICE=${DEVICE:-cuda}
MAX_SECONDS=${MAX_SECONDS:-480}
VARIANTS=${VARIANTS:-base low emb tail}
BATCH=${BATCH:-64}
EVAL_SECONDS=${EVAL_SECONDS:-20}
THREADS=${THREADS:-3}
PYTHON=${PYTHON:-python3}
EXTRA=${EXTRA:-}
GRACE=${GRACE:-90}   # seconds a variant may run past MAX_SECONDS (final evaluation, writing) before it is killed
[ -n "${OUT:-}" ] || die "OUT is not set (the folder for the results)"
mkdir -p "$OUT" || die "cannot create OUT=$OUT"
OUT=$(cd "$OUT" && pwd)
for f in manifest.json student.safetensors student_config.json refs.safetensors teacher_word_rows.safetensors \
         teacher/model.safetensors teacher/config.json teacher/tokenizer.json texts/test.txt texts/heldout.txt; do
  [ -f "$BUNDLE/$f" ] || die "bundle file $BUNDLE/$f is missing (pack it with gpu_bundle.py pack and carry .gpu-carry-q8)"
done
for f in scripts/quantization/e2e_tune.py scripts/quantization/gpu_bundle.py scripts/quantization/prototype.py; do
  [ -f "$f" ] || die "$f is missing"
done
command -v "$PYTHON" >/dev/null || die "no $PYTHON"
command -v timeout >/dev/null || die "no timeout command"
"$PYTHON" -c "import torch, transformers, sentence_transformers, safetensors, numpy" 2>/dev/null \
  || die "$PYTHON lacks one of torch, transformers, sentence_transformers, safetensors, numpy"
if [[ $DEVICE == cuda* ]]; then
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || die "torch sees no CUDA device (DEVICE=$DEVICE)"
fi

init=()
if [ -n "${INIT_DELTA:-}" ]; then
  [ -f "$INIT_DELTA" ] || die "INIT_DELTA=$INIT_DELTA is missing"
  init=(--init-delta "$INIT_DELTA")
fi
common=(${init[@]+"${init[@]}"} --bundle "$BUNDLE" --device "$DEVICE" --max-seconds "$MAX_SECONDS" --batch "$BATCH" --hidden-weight 1
        --select corpus --warmup 0.03 --window-frac 0.2 --oversample-short 2 --eval-seconds "$EVAL_SECONDS" --threads "$THREADS")
pids=()
for v in $VARIANTS; do
  case $v in
    base) a=(--train "groups,float,ints" --lr 1e-3 --lr-float 1e-4 --lr-ints 0.01) ;;          # R1's rates
    low)  a=(--train "groups,float,ints" --lr 5e-4 --lr-float 5e-5 --lr-ints 0.003) ;;
    emb)  a=(--train "groups,float,ints,emb" --lr 1e-3 --lr-float 1e-4 --lr-ints 0.01 --lr-emb 2e-5) ;;  # R5's
    tail) a=(--train "groups,float,ints" --lr 1e-3 --lr-float 1e-4 --lr-ints 0.01 --tail-weight 1 --tail-frac 0.25) ;;
    ada)  a=(--train "groups,float,ada" --lr 1e-3 --lr-float 1e-4 --lr-ada 1e-3 --ada-lambda 0.01) ;;  # opt-in, untried at length
    *) die "unknown variant $v (base, low, emb, tail, ada)" ;;
  esac
  mkdir -p "$OUT/$v"
  # shellcheck disable=SC2086
  timeout -k 10 $((MAX_SECONDS + GRACE)) "$PYTHON" scripts/quantization/e2e_tune.py "${common[@]}" "${a[@]}" $EXTRA \
      --delta "$OUT/$v/delta.safetensors" --log "$OUT/$v/log.json" >"$OUT/$v/stdout.txt" 2>&1 &
  pids+=($!)
  echo "started $v (pid $!): ${a[*]}"
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
for v in $VARIANTS; do
  if [ ! -f "$OUT/$v/delta.safetensors" ]; then
    echo "--- $v failed, last lines of $OUT/$v/stdout.txt:"; tail -n 15 "$OUT/$v/stdout.txt"
  fi
done
"$PYTHON" scripts/quantization/gpu_bundle.py table "$OUT" || die "no variant finished"
if [ -z "${KEEP_ALL:-}" ]; then   # $OUT must stay < 30 MB: only the chosen variant's delta (~7 MB) is kept
  chosen=$(cat "$OUT/chosen.txt")
  for v in $VARIANTS; do [ "$v" = "$chosen" ] || rm -f "$OUT/$v/delta.safetensors"; done
fi
du -sh "$OUT"
exit $status
