#!/usr/bin/env python3
"""A self-contained bundle for running e2e_tune.py on a lent GPU machine (no models/, no MLX,
no network, <= 64 MiB carried with the repo), and the merge of its result back into an MLX dir.

  gpu_bundle.py pack START_DIR --corpus FILE[,FILE] --output .gpu-carry-q8/bundle
  gpu_bundle.py merge START_DIR DELTA --output DIR      # full MLX-format directory
  gpu_bundle.py table OUT_DIR                           # summary of gpu_tune.sh's variants

The bundle holds
  teacher/                 the float model's sentence-transformers files (config, tokenizer,
                           pooling), model.safetensors with every tensor in float16 EXCEPT the
                           word-embedding table, which is in
  teacher_word_rows.safetensors   only the rows of the token ids that occur in the bundled texts
                           (ids int64 + rows float16); the other rows are never read (checked at
                           tokenization: e2e_tune.py refuses a text with an id outside them)
  student.safetensors      the start dir's tensors except the word-embedding table (quantized
                           words uint32, scales/biases float32, float params float32); the student
                           shares the word rows with the teacher (pack checks that the start dir's
                           table equals the float model's)
  student_config.json      the start dir's config.json (bits, group size)
  texts/                   corpus files, test and held-out sentences
  refs.safetensors         float32 references: "test" (the committed expected embeddings) and
                           "heldout" (computed here with the TRUE float32 model)
  manifest.json            sizes, the start dir's checksum, the float16 teacher's cosine to float32
The teacher is cast back to float32 on load (load_bundle); its float16 rounding is measured at pack
time and printed. merge takes the exact float32 word table from the start dir, so the merged
directory differs from the start dir only in the tensors the delta holds.
"""
import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WORD = "embeddings.word_embeddings.weight"
WORD_DELTA_IDS, WORD_DELTA_ROWS = "word_rows_delta.ids", "word_rows_delta.rows"
LIMIT = 50 * 1000 * 1000
TEACHER_FILES = ["config.json", "config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
                 "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json"]


def lines(path):
    return [l.rstrip("\n") for l in open(path, encoding="utf-8") if l.rstrip("\n") != ""]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dir_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def load_bundle(path, device="cpu"):
    """-> dict: tok, max_len, teacher (BertModel, float32, eval, on device), start (the student's
    start tensors as numpy, the word table from the float16 rows, unused rows zero), known_ids
    (bool mask of the word rows present), bits, group, texts {corpus: [files' lines], augmented,
    calibration, test, heldout}, refs {test, heldout} float32 numpy, manifest."""
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    b = Path(path)
    man = json.loads((b / "manifest.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(b / "teacher"))
    max_len = json.loads((b / "teacher/sentence_bert_config.json").read_text())["max_seq_length"]
    cfg = BertConfig.from_pretrained(str(b / "teacher"))
    teacher = BertModel(cfg)
    t16 = load_file(str(b / "teacher/model.safetensors"))
    rows = load_file(str(b / "teacher_word_rows.safetensors"))
    word = np.zeros((cfg.vocab_size, cfg.hidden_size), dtype=np.float32)
    word[rows["ids"]] = rows["rows"].astype(np.float32)
    known = np.zeros(cfg.vocab_size, dtype=bool)
    known[rows["ids"]] = True
    sd = teacher.state_dict()
    missing = [k for k in sd if k != WORD and k not in t16]
    if missing:
        raise SystemExit(f"bundle teacher lacks {missing[:3]}")
    for k in sd:
        sd[k] = torch.from_numpy(word.copy() if k == WORD else np.array(t16[k], dtype=np.float32))
    teacher.load_state_dict(sd)
    teacher = teacher.to(device).eval()
    start = load_file(str(b / "student.safetensors"))
    start[WORD] = word
    q = json.loads((b / "student_config.json").read_text())["quantization"]
    t = b / "texts"
    texts = {"corpus": [lines(t / f) for f in man["corpus_files"]], "augmented": lines(t / "calibration_augmented.txt"),
             "calibration": lines(t / "calibration_texts.txt"), "test": lines(t / "test.txt"), "heldout": lines(t / "heldout.txt")}
    refs = load_file(str(b / "refs.safetensors"))
    return dict(tok=tok, max_len=max_len, teacher=teacher, start=start, known_ids=known, bits=q["bits"],
                group=q["group_size"], texts=texts, refs=refs, manifest=man)


def pack(args):
    import torch
    from safetensors.numpy import load_file, save_file
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    start, model, out = Path(args.start), Path(args.model), Path(args.output)
    corpus_files = [Path(f) for f in args.corpus.split(",") if f]
    fixtures = ROOT / "tests/fixtures"
    sources = {"calibration_augmented.txt": fixtures / "calibration/calibration_augmented.txt",
               "calibration_texts.txt": fixtures / "calibration/calibration_texts.txt",
               "test.txt": fixtures / "minilm/sentences.txt", "heldout.txt": fixtures / "calibration/heldout_sentences.txt"}
    for p in [start / "model.safetensors", start / "config.json", model / "model.safetensors", *corpus_files, *sources.values()]:
        if not p.exists():
            raise SystemExit(f"missing {p}")
    if out.exists():
        shutil.rmtree(out)
    (out / "teacher/1_Pooling").mkdir(parents=True)
    (out / "texts").mkdir()

    # Texts.
    names = []
    for i, f in enumerate(corpus_files):
        names.append(f"corpus_{i}_{f.name}")
        shutil.copyfile(f, out / "texts" / names[-1])
    for name, src in sources.items():
        shutil.copyfile(src, out / "texts" / name)
    all_texts = [t for n in names + list(sources) for t in lines(out / "texts" / n)]

    # Teacher: float16, word table reduced to the rows the texts use.
    st = SentenceTransformer(str(model), device="cpu")
    tok, max_len = st.tokenizer, st.max_seq_length
    for f in TEACHER_FILES:
        shutil.copyfile(model / f, out / "teacher" / f)
    full = load_file(str(model / "model.safetensors"))
    student = load_file(str(start / "model.safetensors"))
    if not np.array_equal(student[WORD], full[WORD]):
        raise SystemExit(f"{start}'s word embeddings differ from {model}'s: the bundle's student cannot share them")
    ids = set()
    for i in range(0, len(all_texts), 2048):
        # Whole texts (no truncation): the word windows e2e_tune.py takes (--window-frac) may come from past 256 tokens.
        for seq in tok(all_texts[i : i + 2048], truncation=False)["input_ids"]:
            ids.update(seq)
    ids.update(tok.all_special_ids)
    ids = np.array(sorted(ids), dtype=np.int64)
    save_file({k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in full.items() if k != WORD},
              str(out / "teacher/model.safetensors"))
    save_file({"ids": ids, "rows": full[WORD][ids].astype(np.float16)}, str(out / "teacher_word_rows.safetensors"))
    save_file({k: v for k, v in student.items() if k != WORD}, str(out / "student.safetensors"), metadata={"format": "mlx"})
    shutil.copyfile(start / "config.json", out / "student_config.json")

    # References with the TRUE float32 model; the float16 teacher's distance from them.
    test, heldout = lines(sources["test.txt"]), lines(sources["heldout.txt"])
    ref_test = load_file(str(fixtures / "minilm/expected_embeddings.safetensors"))["embeddings_normalized"].astype(np.float32)
    ref_held = st.encode(heldout, convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
    f32_test = st.encode(test, convert_to_numpy=True, normalize_embeddings=True)
    save_file({"test": ref_test, "heldout": ref_held}, str(out / "refs.safetensors"))
    man = {"start": str(start.resolve()), "start_sha256": sha256(start / "model.safetensors"),
           "model": str(model.resolve()), "corpus_files": names, "corpus_sources": [str(f.resolve()) for f in corpus_files],
           "word_rows": int(len(ids)), "vocab": int(full[WORD].shape[0])}
    (out / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
    bundle = load_bundle(out)
    sys.path.insert(0, str(Path(__file__).parent))
    from e2e_tune import embed
    with torch.no_grad():
        e_test = embed(bundle["teacher"], bundle["tok"], test, max_len).numpy()
        e_held = embed(bundle["teacher"], bundle["tok"], heldout, max_len).numpy()
    cos = lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    c_test, c_held, c_self = cos(e_test, ref_test), cos(e_held, ref_held), cos(f32_test, ref_test)
    print(f"float32 model vs committed test refs: min cosine {c_self.min():.8f}")
    print(f"float16 teacher (bundle) vs float32: test min {c_test.min():.8f} (1-cos max {1 - c_test.min():.2e}), "
          f"held-out min {c_held.min():.8f} (1-cos max {1 - c_held.min():.2e})")

    man["fp16_teacher_cosine_min"] = {"test": float(c_test.min()), "heldout": float(c_held.min())}
    (out / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
    size = dir_size(out)
    print(f"{out}: {size / 1e6:.1f} MB ({len(ids)} of {full[WORD].shape[0]} word rows, {len(all_texts)} texts)")
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.stat().st_size > 1e6:
            print(f"  {p.relative_to(out)}: {p.stat().st_size / 1e6:.1f} MB")
    if size > LIMIT:
        raise SystemExit(f"bundle is {size / 1e6:.1f} MB > {LIMIT / 1e6:.0f} MB")


def merge(args):
    from safetensors.numpy import load_file, save_file

    start, out = Path(args.start), Path(args.output)
    tensors = load_file(str(start / "model.safetensors"))
    delta = load_file(str(args.delta))
    meta = json.loads(Path(str(args.delta) + ".json").read_text()) if Path(str(args.delta) + ".json").exists() else {}
    if meta.get("start_sha256") and meta["start_sha256"] != sha256(start / "model.safetensors"):
        raise SystemExit(f"{args.delta} was tuned from another start directory than {start}")
    replaced = 0
    for k, v in delta.items():
        if k in (WORD_DELTA_IDS, WORD_DELTA_ROWS):
            continue
        if k not in tensors:
            raise SystemExit(f"delta tensor {k} is not in {start}")
        if tensors[k].shape != v.shape or tensors[k].dtype != v.dtype:
            raise SystemExit(f"delta tensor {k}: {v.dtype}{list(v.shape)} vs start {tensors[k].dtype}{list(tensors[k].shape)}")
        tensors[k] = v
        replaced += 1
    if WORD_DELTA_IDS in delta:
        # Tuned word rows ([CLS]/[SEP]/[UNK]) are stored as deltas: added to the exact float32 rows.
        w = tensors[WORD].copy()
        w[delta[WORD_DELTA_IDS]] += delta[WORD_DELTA_ROWS].astype(np.float32)
        tensors[WORD] = w
        print(f"  {len(delta[WORD_DELTA_IDS])} word-embedding rows tuned")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(start, out)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "mlx"})
    print(f"wrote {out}: {replaced} tensors from {args.delta}, the rest from {start}")


def table(args):
    rows = []
    for log in sorted(Path(args.out).glob("*/log.json")):
        d = json.loads(log.read_text())
        if "final" not in d:
            last = d["evals"][-1] if d.get("evals") else {}
            print(f"{log.parent.name}: did not finish (last evaluation: {last})")
            continue
        f, b = d["final"], d.get("selected") or d["final"]
        rows.append((log.parent.name, d, f, b))
    if not rows:
        raise SystemExit(f"no finished variant (*/log.json with a final evaluation) under {args.out}")
    print(f"{'variant':<8} {'state':<9} {'step':>6} {'s/step':>7} | {'corpus min/mean':>17} | {'test min':>8} {'mean':>7} | {'held min':>8} {'mean':>7}")
    for name, d, f, b in rows:
        for label, r in [("end", f)] + ([("selected", b)] if b is not f and b != f else []):
            print(f"{name:<8} {label:<9} {r['step']:>6} {(d['train_seconds'] - d.get('eval_seconds', 0)) / max(d['steps'], 1):>7.3f} | "
                  f"{r['corpus_min']:.5f}/{r['corpus_mean']:.5f} | {r['test_min']:.5f} {r['test_mean']:.5f} | "
                  f"{r['heldout_min']:.5f} {r['heldout_mean']:.5f}")
    print("the delta holds each variant's selected state (the end state where no 'selected' row is shown)")
    best = max(rows, key=lambda r: (r[3]["corpus_min"], r[3]["corpus_mean"]))
    print(f"chosen by the corpus-sample minimum (not by test/held-out): {best[0]} -> {Path(args.out) / best[0] / 'delta.safetensors'}")
    (Path(args.out) / "chosen.txt").write_text(best[0] + "\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack")
    a.add_argument("start")
    a.add_argument("--corpus", required=True, help="corpus file(s), comma-separated")
    a.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    a.add_argument("--output", default=str(ROOT / ".gpu-carry-q8/bundle"))
    a = sub.add_parser("merge")
    a.add_argument("start")
    a.add_argument("delta")
    a.add_argument("--output", required=True)
    a = sub.add_parser("table")
    a.add_argument("out")
    args = p.parse_args()
    {"pack": pack, "merge": merge, "table": table}[args.cmd](args)


if __name__ == "__main__":
    main()
