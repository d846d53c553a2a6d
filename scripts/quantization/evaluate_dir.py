#!/usr/bin/env python3
"""Cosine of a quantized directory's sentence embeddings to sentence-transformers float32.

The directory's MLX-format Linear weights (<name>.weight uint32, .scales, .biases) are
dequantized with mx.dequantize (MLX reads the file) and run in the float sentence-transformers
model, on the 35 test sentences (vs the committed float32 embeddings) and the held-out set.

  python scripts/quantization/evaluate_dir.py DIR [--model models/all-MiniLM-L6-v2] [--tessera build/release/tessera]
"""
import argparse
import json
import subprocess
from pathlib import Path

import mlx.core as mx
import numpy as np
import torch
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer

from prototype import cosines, lines  # the prototype beside this script reads and scores the same way

ROOT = Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("directory")
    p.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    p.add_argument("--tessera", default="", help="also embed with this tessera binary (tessera loads the files)")
    args = p.parse_args()
    torch.set_num_threads(1)
    d = Path(args.directory)
    q = json.loads((d / "config.json").read_text())["quantization"]
    tensors = load_file(str(d / "model.safetensors"))
    model = SentenceTransformer(args.model, device="cpu")
    test = lines(ROOT / "tests/fixtures/minilm/sentences.txt")
    heldout = lines(ROOT / "tests/fixtures/calibration/heldout_sentences.txt")
    ref_test = load_file(str(ROOT / "tests/fixtures/minilm/expected_embeddings.safetensors"))["embeddings_normalized"]
    ref_held = model.encode(heldout, convert_to_numpy=True)
    state = model[0].auto_model.state_dict()
    loaded = 0
    for name in state:
        key = name if name in tensors else None
        if key is None:
            continue
        base = key[: -len(".weight")]
        if key.endswith(".weight") and base + ".scales" in tensors:
            w = mx.dequantize(mx.array(tensors[key]), mx.array(tensors[base + ".scales"]),
                              mx.array(tensors[base + ".biases"]), group_size=q["group_size"], bits=q["bits"])
            state[name] = torch.from_numpy(np.array(w.astype(mx.float32)))
            loaded += 1
        else:
            state[name] = torch.from_numpy(np.array(tensors[key], dtype=np.float32))
    model[0].auto_model.load_state_dict(state)
    ct = cosines(model.encode(test, convert_to_numpy=True), ref_test)
    ch = cosines(model.encode(heldout, convert_to_numpy=True), ref_held)
    print(f"{d}: {q['bits']}-bit group {q['group_size']}, {loaded} quantized Linear layers read by MLX")
    print(f"  35 test sentences: min {ct.min():.5f} mean {ct.mean():.5f}")
    print(f"  {len(heldout)} held-out sentences: min {ch.min():.5f} mean {ch.mean():.5f}")
    if args.tessera:
        def tessera_embed(texts):
            stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
            out = subprocess.run([args.tessera, "embed", str(d)], input=stdin, capture_output=True, text=True, check=True)
            return np.array([json.loads(l)["embedding"] for l in out.stdout.splitlines()])
        ct, ch = cosines(tessera_embed(test), ref_test), cosines(tessera_embed(heldout), ref_held)
        print(f"  tessera embed: test min {ct.min():.5f} mean {ct.mean():.5f}, held-out min {ch.min():.5f} mean {ch.mean():.5f}")


if __name__ == "__main__":
    main()
