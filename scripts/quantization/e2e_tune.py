#!/usr/bin/env python3
"""End-to-end tuning of an MLX-format quantized all-MiniLM-L6-v2 (needs torch autograd).

Starts from a quantized directory (`tessera convert ... --calibrate`) and tunes by gradient on the
calibration texts' sentence embeddings (and, with --hidden-weight, every layer's hidden states):
  * each group's scale and bias (scale = s0 * exp(a), bias = b0 + s0 * c)      [--train groups]
  * the tensors the format keeps in float: LayerNorm gamma/beta, Linear biases  [--train float]
  * the integers, as a continuous copy rounded straight-through                  [--train ints]
  * position/token-type embeddings, [CLS]/[SEP]/[UNK] word rows (shared inputs)   [--train emb]
The output is the same MLX affine format (uint32 words + scales + biases, same bits and group
size, config.json unchanged); tessera and MLX load it as they load `tessera convert` output.
Calibration texts never include the test or held-out sentences. Best run so far
(docs/benchmarks.md, "End-to-end tuning"):

  tessera convert models/all-MiniLM-L6-v2 --output /tmp/q4cal_aug --quantize 4 --group-size 64 \
      --calibrate tests/fixtures/calibration/calibration_augmented.txt
  nice python scripts/quantization/e2e_tune.py /tmp/q4cal_aug --output /tmp/q4e2e --epochs 9 --steps 624 \
      --hidden-weight 1 --augment --fresh --train groups,float,ints --lr-ints 0.01
  python scripts/quantization/evaluate_dir.py /tmp/q4e2e --tessera build/release/tessera

`--write-augmented FILE` writes the --augment texts (tests/fixtures/calibration/calibration_augmented.txt).
"""
import argparse
import itertools
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from sentence_transformers import SentenceTransformer

from prototype import cosines, lines
from gpu_bundle import WORD, WORD_DELTA_IDS, WORD_DELTA_ROWS

ROOT = Path(__file__).resolve().parents[2]


def unpack(words, bits, cols):
    """MLX packs low bits first into uint32 words: [rows, cols * bits / 32] -> [rows, cols]."""
    per = 32 // bits
    shifts = (np.arange(per, dtype=np.uint32) * bits)[None, None, :]
    q = (words[:, :, None] >> shifts) & np.uint32(2**bits - 1)
    return q.reshape(words.shape[0], -1)[:, :cols]


def pack(q, bits):
    per = 32 // bits
    q = q.astype(np.uint32).reshape(q.shape[0], -1, per)
    shifts = (np.arange(per, dtype=np.uint32) * bits)[None, None, :]
    return np.bitwise_or.reduce(q << shifts, axis=2).astype(np.uint32)


class QLinear(torch.nn.Module):
    def __init__(self, lin, q, scales, biases, group, bits, ste=False, ada=False):
        super().__init__()
        self.group, self.levels = group, 2**bits - 1
        q = torch.from_numpy(q.astype(np.float32))
        # With ste the integers move too: a continuous copy, rounded in the forward pass with the
        # straight-through gradient (in units of one quantization step).
        self.qc = torch.nn.Parameter(q.clone()) if ste else None
        self.register_buffer("q", q)
        self.register_buffer("s0", torch.from_numpy(scales.astype(np.float32)))
        self.register_buffer("b0", torch.from_numpy(biases.astype(np.float32)))
        self.a = torch.nn.Parameter(torch.zeros_like(self.s0))
        self.c = torch.nn.Parameter(torch.zeros_like(self.s0))
        self.bias = lin.bias
        # [--train ada] AdaRound-style learned rounding from the FLOAT weights (the start's integers
        # are not used): q = floor + h(v), h a rectified sigmoid in [0, 1] started at the fractional
        # part (so the soft weights start at the float weights on the start's grid), pushed to 0/1
        # by a regulariser; evaluation and export use the hard q = floor + (h >= 0.5).
        self.v, self.hard = None, False
        if ada:
            with torch.no_grad():
                x = (lin.weight.detach().float().cpu() - self.b0.repeat_interleave(group, 1)) / self.s0.repeat_interleave(group, 1)
                base = torch.floor(x).clamp(0, self.levels - 1)
                h0 = (x - base).clamp(0, 1)
                self.register_buffer("base", base)
                self.v = torch.nn.Parameter(torch.logit(((h0 + 0.1) / 1.2).clamp(1e-4, 1 - 1e-4)))

    def h(self):
        return (torch.sigmoid(self.v) * 1.2 - 0.1).clamp(0, 1)

    def rounding_penalty(self, beta):
        return (1 - (2 * self.h() - 1).abs().pow(beta)).mean()

    def scales(self):
        return self.s0 * torch.exp(self.a)

    def biases(self):
        return self.b0 + self.s0 * self.c

    def ints(self):
        if self.v is not None:
            return self.base + ((self.h() >= 0.5).float() if self.hard else self.h())
        if self.qc is None:
            return self.q
        qhat = self.qc.clamp(0, self.levels)
        return qhat + (torch.round(qhat) - qhat).detach()

    def weight(self):
        s = self.scales().repeat_interleave(self.group, 1)
        b = self.biases().repeat_interleave(self.group, 1)
        return s * self.ints() + b

    def forward(self, x):
        return torch.nn.functional.linear(x, self.weight(), self.bias)


def embed(bert, tok, texts, max_length, batch=64):
    """Normalized mean-pooled embeddings (on the CPU), computed on the model's device."""
    device = next(bert.parameters()).device
    outs = []
    for i in range(0, len(texts), batch):
        enc = tok(texts[i : i + batch], return_tensors="pt", padding=True, truncation=True, max_length=max_length).to(device)
        h = bert(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        e = (h * m).sum(1) / m.sum(1)
        outs.append(torch.nn.functional.normalize(e, dim=-1).cpu())
    return torch.cat(outs)


def augment(texts, seed=0, long_count=24, per_long=20):
    """Calibration texts plus texts derived from them only: every line's first and last word alone
    (short inputs, whose embedding is mostly [CLS]/[SEP]), and long passages of `per_long` lines
    joined (positions up to the 256-token limit that single lines never reach)."""
    rng = np.random.default_rng(seed)
    out = list(texts)
    seen = set(out)
    for t in texts:
        words = t.split()
        for w in (words[0], words[-1]) if words else ():
            if w not in seen:
                seen.add(w)
                out.append(w)
    for _ in range(long_count):
        idx = rng.choice(len(texts), per_long, replace=False)
        out.append(" ".join(texts[i] for i in idx))
    return out


def random_views(texts, rng, long_count=24, per_long=20):
    """New inputs derived from the calibration lines only: a random window of 1-6 words of each
    line, and long passages of random lines joined."""
    out = []
    for t in texts:
        words = t.split()
        if not words:
            continue
        n = int(rng.integers(1, min(6, len(words)) + 1))
        i = int(rng.integers(0, len(words) - n + 1))
        out.append(" ".join(words[i : i + n]))
    for _ in range(long_count):
        idx = rng.choice(len(texts), per_long, replace=False)
        out.append(" ".join(texts[i] for i in idx))
    return out


def set_module(root, name, new):
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)


def window_views(texts, frac, rng):
    """Replace a fraction `frac` of the texts by a random contiguous window of their words (1 to
    all words): new inputs from the same text, so long runs see fewer exact repeats."""
    out = list(texts)
    for i in np.flatnonzero(rng.random(len(out)) < frac):
        words = out[i].split()
        if len(words) > 1:
            n = int(rng.integers(1, len(words) + 1))
            k = int(rng.integers(0, len(words) - n + 1))
            out[i] = " ".join(words[k : k + n])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("start", nargs="?", default="", help="quantized MLX-format directory to start from")
    p.add_argument("--output", default="", help="write the full tuned directory (needs START, not with --bundle)")
    p.add_argument("--bundle", default="", help="run from a gpu_bundle.py bundle instead of START/--model/--calibration/--corpus")
    p.add_argument("--delta", default="", help="write only the tuned tensors (safetensors; gpu_bundle.py merge) and DELTA.json")
    p.add_argument("--init-delta", default="", help="start from START (or the bundle's start) with this delta applied "
                   "(continue an earlier run); the new delta then holds its tensors too, so it merges with the same START")
    p.add_argument("--log", default="", help="JSON log of the evaluations (rewritten after each)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--max-seconds", type=float, default=0, help="stop training this many seconds after the start of the "
                   "process; without --steps the cosine decay then runs over that time (not over steps)")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (0: write the start unchanged)")
    p.add_argument("--select", default="last", choices=["last", "corpus"], help="keep the last state, or the evaluated "
                   "state with the best corpus-sample minimum (with --corpus; the sample is then left out of training)")
    p.add_argument("--window-frac", type=float, default=0.0, help="with --corpus: each epoch this fraction of the drawn "
                   "texts is replaced by a random word window of itself")
    p.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    p.add_argument("--calibration", default=str(ROOT / "tests/fixtures/calibration/calibration_texts.txt"))
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3, help="for the relative scale/bias parameters")
    p.add_argument("--lr-float", type=float, default=1e-4, help="for LayerNorm and Linear biases")
    p.add_argument("--train", default="groups,float", help="groups, float (LN + biases), ints (straight-through)")
    p.add_argument("--lr-emb", type=float, default=1e-4, help="for the shared embedding inputs [--train emb]")
    p.add_argument("--lr-ints", type=float, default=1e-2, help="for the integers, in quantization steps")
    p.add_argument("--lr-ada", type=float, default=1e-3, help="[--train ada] for the rounding variables")
    p.add_argument("--ada-lambda", type=float, default=0.01, help="[--train ada] weight of the rounding regulariser")
    p.add_argument("--ada-warm", type=float, default=0.2, help="[--train ada] fraction of the schedule without the "
                   "regulariser; then its exponent anneals from 20 to 2 by the end")
    p.add_argument("--hidden-weight", type=float, default=0.0, help="weight of per-layer hidden-state MSE")
    p.add_argument("--tail-weight", type=float, default=0.0, help="add this times the mean embedding loss (1 - cosine) "
                   "of the worst --tail-frac of each batch (the goal is the minimum over texts)")
    p.add_argument("--tail-frac", type=float, default=0.25)
    p.add_argument("--augment", action="store_true", help="add short and long texts derived from the calibration lines")
    p.add_argument("--fresh", action="store_true", help="each epoch adds new random views (word windows, joined passages) of the calibration lines")
    p.add_argument("--write-augmented", default="", help="write the --augment texts to this file and stop")
    p.add_argument("--corpus", default="", help="large text file(s), comma-separated (build_corpus.py): each epoch trains on --per-epoch texts sampled from it")
    p.add_argument("--per-epoch", type=int, default=0, help="texts sampled from --corpus per epoch (default: all)")
    p.add_argument("--oversample-short", type=int, default=1, help="with --corpus: texts of <= 8 tokens are drawn this many times as often")
    p.add_argument("--tokens-per-batch", type=int, default=0, help="with --corpus: batch up to this many padded tokens (at least --batch texts)")
    p.add_argument("--warmup", type=float, default=0.0, help="linear learning-rate warm-up over this fraction of the "
                   "schedule (steps or --max-seconds), before the cosine decay")
    p.add_argument("--steps", type=int, default=0, help="length of the cosine learning-rate decay (default: all epochs); later steps use lr 0")
    p.add_argument("--eval-every", type=int, default=0, help="also evaluate every N steps")
    p.add_argument("--eval-seconds", type=float, default=0, help="also evaluate after every S seconds of training")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision("highest")  # no TF32 on the GPU: the targets are float32
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    if args.write_augmented:
        texts = augment(lines(args.calibration))
        Path(args.write_augmented).write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        print(f"wrote {len(texts)} texts to {args.write_augmented}")
        return
    known_ids = None
    if args.bundle:
        # Everything from the bundle: float16 teacher cast to float32, the start tensors (word table
        # shared with the teacher), texts, float32 references computed with the true model.
        from gpu_bundle import load_bundle
        if args.output:
            raise SystemExit("--output needs the start directory's float32 word table: use --delta and gpu_bundle.py merge")
        B = load_bundle(args.bundle, device)
        tok, max_len, bert_f, tensors = B["tok"], B["max_len"], B["teacher"], B["start"]
        bits, group, known_ids = B["bits"], B["group"], B["known_ids"]
        test, heldout = B["texts"]["test"], B["texts"]["heldout"]
        ref_test, ref_held = B["refs"]["test"], B["refs"]["heldout"]
        calib = base_calib = B["texts"]["calibration"]
        corpus = list(dict.fromkeys(t for f in B["texts"]["corpus"] for t in f))
        start_sha = B["manifest"]["start_sha256"]
    else:
        start = Path(args.start)
        qcfg = json.loads((start / "config.json").read_text())["quantization"]
        bits, group = qcfg["bits"], qcfg["group_size"]
        tensors = load_file(str(start / "model.safetensors"))
        st = SentenceTransformer(args.model, device=str(device))
        tok, max_len = st.tokenizer, st.max_seq_length
        bert_f = st[0].auto_model.eval()
        test = lines(ROOT / "tests/fixtures/minilm/sentences.txt")
        heldout = lines(ROOT / "tests/fixtures/calibration/heldout_sentences.txt")
        calib = base_calib = lines(args.calibration)
        corpus = list(dict.fromkeys(t for f in args.corpus.split(",") if f for t in lines(f)))
        ref_test = load_file(str(ROOT / "tests/fixtures/minilm/expected_embeddings.safetensors"))["embeddings_normalized"]
        ref_held = None
        start_sha = ""
        if args.delta or args.init_delta:
            from gpu_bundle import sha256
            start_sha = sha256(start / "model.safetensors")
    prev, prev_rows = {}, {}
    if args.init_delta:
        # An earlier run's delta on the same start: its tensors replace the start's, its word-row
        # deltas are added (and carried into this run's delta).
        prev = load_file(args.init_delta)
        meta_path = Path(args.init_delta + ".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if meta.get("start_sha256") and start_sha and meta["start_sha256"] != start_sha:
            raise SystemExit(f"{args.init_delta} was tuned from another start")
        for k, v in prev.items():
            if k in (WORD_DELTA_IDS, WORD_DELTA_ROWS):
                continue
            if k not in tensors or tensors[k].shape != v.shape or tensors[k].dtype != v.dtype:
                raise SystemExit(f"{args.init_delta}: tensor {k} does not fit the start")
            tensors[k] = v
        if WORD_DELTA_IDS in prev:
            tensors[WORD] = tensors[WORD].copy()
            for t, row in zip(prev[WORD_DELTA_IDS], prev[WORD_DELTA_ROWS]):
                tensors[WORD][t] += row
                prev_rows[int(t)] = row.astype(np.float32)
        print(f"started from {args.init_delta} ({len(prev)} tensors)")
    if args.augment:
        calib = augment(calib)
    pool = np.arange(len(corpus))
    if corpus:
        # The "calib" score is then on a fixed sample of the corpus (left out of training with --select corpus).
        sample = np.random.default_rng(12345).choice(len(corpus), min(400, len(corpus)), replace=False)
        calib = [corpus[i] for i in sample]
        if args.select == "corpus":
            pool = np.setdiff1d(pool, sample)
        print(f"{len(corpus)} corpus texts, {len(pool)} for training, {args.per_epoch or len(pool)} per epoch")
        short_ids = np.array([i for i, ids in zip(pool, tok([corpus[i] for i in pool], truncation=True, max_length=max_len)["input_ids"])
                              if len(ids) <= 8], dtype=np.int64)
        print(f"{len(short_ids)} of them have <= 8 tokens")
    elif args.select == "corpus":
        raise SystemExit("--select corpus needs --corpus (or a bundle)")
    print(f"{len(calib)} calibration texts, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))

    def check_ids(texts):
        if known_ids is None:
            return
        for ids in tok(texts, truncation=True, max_length=max_len)["input_ids"]:
            if not known_ids[ids].all():
                raise SystemExit(f"a text uses word rows that the bundle lacks: {[t for t in ids if not known_ids[t]][:5]}")

    def float_refs(enc):
        with torch.no_grad():
            o = bert_f(**enc, output_hidden_states=bool(args.hidden_weight))
            m = enc["attention_mask"].unsqueeze(-1).to(o.last_hidden_state.dtype)
            e = torch.nn.functional.normalize((o.last_hidden_state * m).sum(1) / m.sum(1), dim=-1)
        return e, o.hidden_states if args.hidden_weight else None

    id_cache, corpus_set = {}, set(corpus)

    def token_ids(texts):
        """The tokenizer's ids (truncated to max_len) of each text; the corpus texts' are kept, so
        an epoch re-tokenizes only new texts (word windows)."""
        new = [t for t in dict.fromkeys(texts) if t not in id_cache]
        got = dict(zip(new, tok(new, truncation=True, max_length=max_len)["input_ids"])) if new else {}
        id_cache.update((t, ids) for t, ids in got.items() if t in corpus_set)
        return [id_cache[t] if t in id_cache else got[t] for t in texts]

    def pad_batch(seqs):
        """Same tensors as tok(..., return_tensors="pt", padding=True): right padding with the pad id."""
        n = max(len(x) for x in seqs)
        ids = np.full((len(seqs), n), tok.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(seqs), n), dtype=np.int64)
        for r, x in enumerate(seqs):
            ids[r, : len(x)] = x
            mask[r, : len(x)] = 1
        return {"input_ids": torch.from_numpy(ids).to(device), "token_type_ids": torch.zeros_like(torch.from_numpy(ids)).to(device),
                "attention_mask": torch.from_numpy(mask).to(device)}

    def make_batches(texts, refs=True):
        """Tokenized batches of similar lengths with the float model's embeddings (and hidden
        states); refs=False leaves those to be computed when the batch is used (saves memory)."""
        out = []
        # Sorted by token count with --corpus, by characters otherwise (as the earlier documented runs).
        all_ids = token_ids(texts)
        if known_ids is not None:
            # A bundle holds only the word rows its texts use; drop (and count) any other text.
            ok = [bool(known_ids[ids].all()) for ids in all_ids]
            if not all(ok):
                print(f"  dropped {len(ok) - sum(ok)} texts with word rows the bundle lacks")
                texts = [t for t, k in zip(texts, ok) if k]
                all_ids = [ids for ids, k in zip(all_ids, ok) if k]
        lengths = [len(ids) for ids in all_ids]
        order = np.argsort(lengths, kind="stable") if corpus else np.argsort([len(t) for t in texts])
        i = 0
        while i < len(texts):
            n = args.batch
            if args.tokens_per_batch:
                while i + n < len(texts) and (n + 1) * lengths[order[i + n]] <= args.tokens_per_batch:
                    n += 1
            enc = pad_batch([all_ids[j] for j in order[i : i + n]])
            out.append((enc,) + (float_refs(enc) if refs else (None, None)))
            i += n
        return out

    check_ids(test + heldout + calib)
    with torch.no_grad():
        if ref_held is None:
            ref_held = embed(bert_f, tok, heldout, max_len).numpy()
        ref_cal = embed(bert_f, tok, calib, max_len)
    encs = make_batches(calib) if not corpus else []
    print("float vs committed refs (sanity):", cosines(embed(bert_f, tok, test, max_len).detach().numpy(), ref_test).min())

    import copy
    bert = copy.deepcopy(bert_f)
    # Float tensors from the start directory (they may differ from the original checkpoint).
    sd = bert.state_dict()
    for name in sd:
        if name in tensors and tensors[name].dtype != np.uint32:
            sd[name] = torch.from_numpy(np.array(tensors[name], dtype=np.float32))
    bert.load_state_dict(sd)
    qlins = {}
    for name, m in list(bert.named_modules()):
        if isinstance(m, torch.nn.Linear) and name + ".scales" in tensors:
            q = unpack(tensors[name + ".weight"], bits, m.in_features)
            ql = QLinear(m, q, tensors[name + ".scales"], tensors[name + ".biases"], group, bits, "ints" in args.train,
                         "ada" in args.train)
            set_module(bert, name, ql)
            qlins[name] = ql
    bert.to(device)
    for prm in bert.parameters():
        prm.requires_grad_(False)
    group_params, float_params, int_params, ada_params = [], [], [], []
    if "ints" in args.train and "ada" in args.train:
        raise SystemExit("--train: ints (straight-through from the start's integers) or ada (learned rounding), not both")
    for ql in qlins.values():
        group_params += [ql.a, ql.c]
        if ql.qc is not None:
            int_params.append(ql.qc)
        if ql.v is not None:
            ada_params.append(ql.v)
    float_names = []
    for name, m in bert.named_modules():
        if isinstance(m, torch.nn.LayerNorm):
            float_params += [m.weight, m.bias]
            float_names += [name + ".weight", name + ".bias"]
        if isinstance(m, QLinear) and m.bias is not None:
            float_params.append(m.bias)
            float_names.append(name + ".bias")
    groups = []
    if "groups" in args.train:
        groups.append({"params": group_params, "lr": args.lr})
    # [--train emb] the embedding inputs every text shares: position and token-type tables and
    # the word-embedding rows of [CLS], [SEP] and [UNK] (a delta added by a hook, folded in at save).
    special = [tok.cls_token_id, tok.sep_token_id, tok.unk_token_id]
    emb = bert.embeddings
    special_delta = torch.nn.Parameter(torch.zeros(len(special), emb.word_embeddings.weight.shape[1], device=device))
    if "emb" in args.train:
        def add_special(module, inputs, output):
            ids = inputs[0]
            for k, t in enumerate(special):
                output = output + (ids == t).unsqueeze(-1).to(output.dtype) * special_delta[k]
            return output
        hook = emb.word_embeddings.register_forward_hook(add_special)
        groups.append({"params": [special_delta, emb.position_embeddings.weight, emb.token_type_embeddings.weight],
                       "lr": args.lr_emb})
    if "float" in args.train:
        groups.append({"params": float_params, "lr": args.lr_float})
    if "ints" in args.train:
        groups.append({"params": int_params, "lr": args.lr_ints})
    if "ada" in args.train:
        groups.append({"params": ada_params, "lr": args.lr_ada})

    def set_hard(flag):
        for ql in qlins.values():
            ql.hard = flag
    for g in groups:
        for prm in g["params"]:
            prm.requires_grad_(True)
    trained = [prm for g in groups for prm in g["params"]]
    opt = torch.optim.Adam(groups)
    base_lrs = [g["lr"] for g in opt.param_groups]
    per_epoch = len(encs) + (-(-(len(base_calib) + 24) // args.batch) if args.fresh else 0)
    by_time = bool(args.max_seconds) and not args.steps
    if corpus and not by_time:
        per_epoch = len(make_batches([corpus[i] for i in pool[: args.per_epoch or len(pool)]], refs=False))
        print(f"about {per_epoch} steps per epoch")
    steps = args.steps or args.epochs * per_epoch

    log = {"args": vars(args), "device": str(device), "start_sha256": start_sha, "evals": []}
    if device.type == "cuda":
        log["gpu"] = torch.cuda.get_device_name(device)

    def write_log():
        if args.log:
            Path(args.log).parent.mkdir(parents=True, exist_ok=True)
            Path(args.log).write_text(json.dumps(log, indent=1) + "\n")

    eval_seconds, last_eval = [0.0], [0.0]

    def evaluate(tag, step):
        t_eval = time.time()
        set_hard(True)  # [--train ada] the exported (hard-rounded) model is what is scored
        with torch.no_grad():
            ct = cosines(embed(bert, tok, test, max_len).numpy(), ref_test)
            ch = cosines(embed(bert, tok, heldout, max_len).numpy(), ref_held)
            cc = (embed(bert, tok, calib, max_len) * ref_cal).sum(1).numpy()
        set_hard(False)
        print("  worst test", [(int(i) + 1, round(float(ct[i]), 4)) for i in np.argsort(ct)[:4]],
              "worst held-out", [(int(i) + 1, round(float(ch[i]), 4)) for i in np.argsort(ch)[:4]])
        print(f"{tag}: calib min {cc.min():.5f} mean {cc.mean():.5f} | test min {ct.min():.5f} mean {ct.mean():.5f} | "
              f"held-out min {ch.min():.5f} mean {ch.mean():.5f}", flush=True)
        rec = {"step": step, "seconds": round(time.time() - t_start, 1), "corpus_min": float(cc.min()),
               "corpus_mean": float(cc.mean()), "test_min": float(ct.min()), "test_mean": float(ct.mean()),
               "heldout_min": float(ch.min()), "heldout_mean": float(ch.mean()),
               "worst_test": [int(i) + 1 for i in np.argsort(ct)[:4]], "worst_heldout": [int(i) + 1 for i in np.argsort(ch)[:4]]}
        log["evals"].append(rec)
        write_log()
        if step:
            eval_seconds[0] += time.time() - t_eval
        last_eval[0] = time.time()
        return rec

    best = {"rec": evaluate("start", 0), "state": [prm.detach().clone() for prm in trained]}
    t0 = time.time()
    deadline = t_start + args.max_seconds if args.max_seconds else None
    rng = np.random.default_rng(args.seed)
    done, stop = 0, args.max_steps == 0
    for epoch in itertools.count() if by_time else range(args.epochs):
        if stop:
            break
        total, seen = 0.0, 0
        if corpus:
            cand = np.concatenate([pool] + [short_ids] * (args.oversample_short - 1))
            pick = np.random.default_rng(1000 + epoch).permutation(cand)[: args.per_epoch or len(pool)]
            texts = [corpus[i] for i in pick]
            if args.window_frac:
                texts = window_views(texts, args.window_frac, np.random.default_rng(2000 + epoch))
            encs = make_batches(texts, refs=False)
        elif args.fresh:
            texts = calib + random_views(base_calib, np.random.default_rng(1000 + epoch))
            encs = make_batches(texts)
        for bi in rng.permutation(len(encs)):
            now = time.time()
            if (deadline and now >= deadline) or (args.max_steps >= 0 and done >= args.max_steps):
                stop = True
                break
            # Cosine decay over the time budget, or over `steps` (the same floats as the LambdaLR used before).
            factor = (0.5 * (1 + np.cos(np.pi * min((now - t0) / (deadline - t0), 1.0))) if by_time
                      else 0.5 * (1 + np.cos(np.pi * min(done, steps) / max(steps, 1))))
            if args.warmup:
                # Linear warm-up: Adam's first steps move every parameter by about the full lr
                # (3 steps at R1's rates take the corpus-sample minimum from 0.969 to 0.788).
                fraction = (now - t0) / (deadline - t0) if by_time else done / max(steps, 1)
                factor *= min(1.0, fraction / args.warmup)
            for g, lr in zip(opt.param_groups, base_lrs):
                g["lr"] = lr * factor
            enc, ref, hid = encs[bi]
            if ref is None:
                ref, hid = float_refs(enc)
            out = bert(**enc, output_hidden_states=bool(args.hidden_weight))
            h = out.last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
            per_text = 1 - (e * ref).sum(1)
            loss = per_text.mean()
            if args.tail_weight:
                k = max(1, int(np.ceil(args.tail_frac * len(per_text))))
                loss = loss + args.tail_weight * per_text.topk(k).values.mean()
            if args.hidden_weight:
                for hq, hf in zip(out.hidden_states[1:], hid[1:]):
                    d = ((hq - hf) ** 2 * m).sum() / (m.sum() * hf.shape[-1])
                    loss = loss + args.hidden_weight * d / (hf.var())
            if ada_params:
                fraction = min((now - t0) / (deadline - t0) if by_time else done / max(steps, 1), 1.0)
                if fraction >= args.ada_warm:
                    beta = 20 - 18 * (fraction - args.ada_warm) / max(1 - args.ada_warm, 1e-9)
                    loss = loss + args.ada_lambda * sum(ql.rounding_penalty(beta) for ql in qlins.values()) / len(qlins)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(ref)
            seen += len(ref)
            done += 1
            if (args.eval_every and done % args.eval_every == 0) or (args.eval_seconds and time.time() - last_eval[0] >= args.eval_seconds):
                rec = evaluate(f"step {done} ({time.time() - t0:.0f} s, lr x{factor:.3f})", done)
                if args.select == "corpus" and (rec["corpus_min"], rec["corpus_mean"]) > (best["rec"]["corpus_min"], best["rec"]["corpus_mean"]):
                    best = {"rec": rec, "state": [prm.detach().clone() for prm in trained]}
        if not by_time and not stop and (epoch % 5 == 4 or epoch == args.epochs - 1):
            evaluate(f"epoch {epoch + 1} loss {total / max(seen, 1):.6f} ({time.time() - t0:.0f} s)", done)
    train_seconds = time.time() - t0
    log["steps"], log["train_seconds"], log["eval_seconds"] = done, round(train_seconds, 1), round(eval_seconds[0], 1)
    print(f"{done} steps in {train_seconds:.0f} s, {eval_seconds[0]:.0f} s of it evaluating "
          f"({(train_seconds - eval_seconds[0]) / max(done, 1):.3f} s/step)")
    final = evaluate(f"final, step {done}", done)
    log["final"] = final
    if args.select == "corpus":
        if (final["corpus_min"], final["corpus_mean"]) < (best["rec"]["corpus_min"], best["rec"]["corpus_mean"]):
            with torch.no_grad():
                for prm, v in zip(trained, best["state"]):
                    prm.copy_(v)
            print(f"kept the state of step {best['rec']['step']} (corpus-sample min {best['rec']['corpus_min']:.5f} > "
                  f"{final['corpus_min']:.5f} at the end)")
            log["selected"] = best["rec"]
        else:
            log["selected"] = final
    write_log()

    if args.output or args.delta:
        new = dict(tensors)
        delta = {k: v for k, v in prev.items() if k not in (WORD_DELTA_IDS, WORD_DELTA_ROWS)}
        rows = dict(prev_rows)
        with torch.no_grad():
            for name, ql in qlins.items():
                if ql.qc is not None or ql.v is not None:
                    ql.hard = True
                    if ql.v is not None:
                        h = ql.h()
                        print(f"  {name}: {100 * ((h > 0) & (h < 1)).float().mean():.1f}% of the roundings still soft")
                    q = ql.ints().round().cpu().numpy().astype(np.uint32)
                    changed = (q != ql.q.cpu().numpy()).mean()
                    print(f"  {name}: {100 * changed:.2f}% of the integers changed")
                    new[name + ".weight"] = delta[name + ".weight"] = pack(q, bits)
                new[name + ".scales"] = ql.scales().cpu().numpy().astype(np.float32)
                new[name + ".biases"] = ql.biases().cpu().numpy().astype(np.float32)
                if "groups" in args.train:
                    delta[name + ".scales"], delta[name + ".biases"] = new[name + ".scales"], new[name + ".biases"]
            if "emb" in args.train:
                hook.remove()
                # The delta keeps the tuned word rows as differences (merge adds them to the exact
                # float32 rows; a bundle's student has float16-rounded rows).
                for k, t in enumerate(special):
                    rows[t] = rows.get(t, 0) + special_delta[k].detach().cpu().numpy().astype(np.float32)
                for k, t in enumerate(special):
                    emb.word_embeddings.weight[t] += special_delta[k]
            state = bert.state_dict()
            for name, t in state.items():
                if name in new and new[name].dtype != np.uint32 and not name.endswith((".scales", ".biases", ".q", ".s0", ".b0")):
                    new[name] = t.cpu().numpy().astype(new[name].dtype)
            if "float" in args.train:
                for name in float_names:
                    delta[name] = new[name]
            if "emb" in args.train:
                for name in ["embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight"]:
                    delta[name] = new[name]
        if rows:
            delta[WORD_DELTA_IDS] = np.array(sorted(rows), dtype=np.int64)
            delta[WORD_DELTA_ROWS] = np.stack([rows[t] for t in sorted(rows)]).astype(np.float32)
        if args.delta:
            Path(args.delta).parent.mkdir(parents=True, exist_ok=True)
            save_file(delta, str(args.delta))
            meta = {"start_sha256": start_sha, "steps": done, "train": args.train, "final": final,
                    "selected": log.get("selected", final)}
            Path(args.delta + ".json").write_text(json.dumps(meta, indent=1) + "\n")
            print(f"wrote {args.delta} ({len(delta)} tensors, {Path(args.delta).stat().st_size / 1e6:.1f} MB)")
        if args.output:
            out = Path(args.output)
            if out.exists():
                shutil.rmtree(out)
            shutil.copytree(start, out)
            save_file(new, str(out / "model.safetensors"), metadata={"format": "mlx"})
            print("wrote", out)


if __name__ == "__main__":
    main()
