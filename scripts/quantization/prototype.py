#!/usr/bin/env python3
"""Prototype of calibrated 4-bit quantization for all-MiniLM-L6-v2 in MLX's affine format.

Every method writes w ~ scale * q + bias per group of `group` input columns (q in [0, 2^bits-1]),
so the result is a normal MLX-format checkpoint; only how scale, bias and q are chosen differs.
Calibration activations come from tests/fixtures/calibration/calibration_texts.txt only; the
accuracy is measured on the 35 test sentences (vs the committed float32 embeddings) and on a
held-out set (vs sentence-transformers float32).

  nice python scripts/quantization/prototype.py --methods rtn,gptq --formats 4:64
"""
import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer

ROOT = Path(__file__).resolve().parents[2]


def lines(path):
    return [l.rstrip("\n") for l in open(path, encoding="utf-8") if l.rstrip("\n") != ""]


def mlx_params(w, bits):
    """mx.quantize's affine scale and bias per row of w [rows, group] (float64)."""
    n_bins = 2**bits - 1
    w_max, w_min = w.max(1), w.min(1)
    mask = np.abs(w_min) > np.abs(w_max)
    scale = np.maximum((w_max - w_min) / n_bins, 1e-7)
    scale = np.where(mask, scale, -scale)
    edge = np.where(mask, w_min, w_max)
    q0 = np.rint(edge / scale)
    scale = np.where(q0 != 0, edge / np.where(q0 != 0, q0, 1), scale)
    bias = np.where(q0 == 0, 0, edge)
    return scale, bias


def assign(w, scale, bias, bits):
    return np.clip(np.rint((w - bias[:, None]) / scale[:, None]), 0, 2**bits - 1)


def group_error(w, scale, bias, q, h):
    d = w - (scale[:, None] * q + bias[:, None])
    return (d * d * h[None, :]).sum(1)


def search_params(w, bits, h, steps=20, refine=3):
    """Per row of w [rows, group]: the scale/bias minimising sum_j h_j (w_j - s q_j - b)^2,
    starting from MLX's params (so never worse), trying shrunk ranges [lo, hi], then alternating
    weighted least squares for (s, b) given q and re-rounding q."""
    n_bins = 2**bits - 1
    best_s, best_b = mlx_params(w, bits)
    best_q = assign(w, best_s, best_b, bits)
    best_e = group_error(w, best_s, best_b, best_q, h)
    w_max, w_min = w.max(1), w.min(1)
    for lo_f in np.linspace(1.0, 0.6, steps // 2):
        for hi_f in np.linspace(1.0, 0.6, steps // 2):
            lo, hi = w_min * lo_f, w_max * hi_f
            s = np.maximum((hi - lo) / n_bins, 1e-9)
            b = lo
            q = assign(w, s, b, bits)
            e = group_error(w, s, b, q, h)
            better = e < best_e
            best_s, best_b, best_e = np.where(better, s, best_s), np.where(better, b, best_b), np.where(better, e, best_e)
            best_q = np.where(better[:, None], q, best_q)
    for _ in range(refine):
        # weighted least squares of w ~ s q + b per row
        sw = h.sum()
        mq = (best_q * h).sum(1) / sw
        mw = (w * h).sum(1) / sw
        cov = ((best_q - mq[:, None]) * (w - mw[:, None]) * h).sum(1)
        var = ((best_q - mq[:, None]) ** 2 * h).sum(1)
        ok = var > 1e-12
        s = np.where(ok, cov / np.where(ok, var, 1), best_s)
        s = np.where(np.abs(s) > 1e-12, s, best_s)
        b = mw - s * mq
        q = assign(w, s, b, bits)
        e = group_error(w, s, b, q, h)
        better = e < best_e
        best_s, best_b, best_e = np.where(better, s, best_s), np.where(better, b, best_b), np.where(better, e, best_e)
        best_q = np.where(better[:, None], q, best_q)
    return best_s, best_b


def quantize_rtn(W, bits, group, H=None, search=False):
    out = np.empty_like(W)
    for g in range(0, W.shape[1], group):
        w = W[:, g : g + group]
        h = np.diag(H)[g : g + group] if H is not None else np.ones(group)
        s, b = search_params(w, bits, h) if search else mlx_params(w, bits)
        out[:, g : g + group] = s[:, None] * assign(w, s, b, bits) + b[:, None]
    return out


def quantize_gptq(W, H, bits, group, search=False, damp=0.01, refit=False):
    """Columns quantized in order; each column's rounding error is spread over the columns not yet
    quantized through the inverse Hessian (OBS update), group params chosen when a group starts
    from the already-updated weights."""
    W0, H0 = W, H
    W = W.copy()
    H = H.copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += damp * np.mean(np.diag(H)) * np.eye(H.shape[0])
    Hinv = np.linalg.inv(H)
    U = np.linalg.cholesky(Hinv).T  # upper: Hinv = U^T U
    Q = np.zeros_like(W)
    n = W.shape[1]
    ints = np.zeros_like(W)
    S = np.zeros((W.shape[0], n // group))
    B = np.zeros_like(S)
    for g in range(0, n, group):
        w = W[:, g : g + group]
        h = np.diag(H)[g : g + group]
        s, b = search_params(w, bits, h) if search else mlx_params(w, bits)
        S[:, g // group], B[:, g // group] = s, b
        for i in range(g, g + group):
            ints[:, i] = np.clip(np.rint((W[:, i] - b) / s), 0, 2**bits - 1)
            q = s * ints[:, i] + b
            Q[:, i] = q
            err = (W[:, i] - q) / U[i, i]
            W[:, i + 1 :] -= np.outer(err, U[i, i + 1 :])
    if refit:
        return refit_params(W0, ints, S, B, H0, group)
    return Q


def refit_params(W, ints, S, B, H, group):
    """Given the integers, the scales and biases minimising tr((W - Q) H (W - Q)^T) exactly
    (per output row a linear least-squares problem in its 2 * groups parameters)."""
    rows, n = W.shape
    G = n // group
    Hb = H.reshape(G, group, n)
    # features per row: column i of group g contributes q_i to scale g and 1 to bias g
    Zq = np.einsum("rgi,gij->rgj", ints.reshape(rows, G, group), Hb)  # [rows, G, n]
    Zo = Hb.sum(1)  # [G, n]
    qg = ints.reshape(rows, G, group)
    A = np.zeros((rows, 2 * G, 2 * G))
    A[:, :G, :G] = np.einsum("rgkj,rkj->rgk", Zq.reshape(rows, G, G, group), qg)
    A[:, :G, G:] = np.einsum("rgkj->rgk", Zq.reshape(rows, G, G, group))
    A[:, G:, :G] = A[:, :G, G:].transpose(0, 2, 1)
    A[:, G:, G:] = Zo.reshape(G, G, group).sum(2)[None]
    WH = W @ H  # [rows, n]
    rhs = np.concatenate([(WH.reshape(rows, G, group) * qg).sum(2), WH.reshape(rows, G, group).sum(2)], 1)
    ridge = 1e-6 * np.trace(H) / n
    A += ridge * np.eye(2 * G)[None]
    rhs += ridge * np.concatenate([S, B], 1)
    x = np.linalg.solve(A, rhs[..., None])[..., 0]
    S2, B2 = x[:, :G], x[:, G:]
    return (S2[:, :, None] * qg + B2[:, :, None]).reshape(rows, n)


def collect_hessians(bert, tokenizer, texts, linears, max_length, batch=32, per_text=False):
    """X^T X of each given Linear's input over every real (unpadded) token of `texts`."""
    hessians = {n: np.zeros((m.in_features, m.in_features)) for n, m in linears.items()}
    sums = {n: np.zeros(m.in_features) for n, m in linears.items()}
    counts = {n: 0.0 for n in linears}
    state = {}
    hooks = []
    for n, m in linears.items():
        def hook(mod, inp, out, n=n):
            x = inp[0].detach()
            if x.dim() == 3:
                weight = state["weight"][state["mask"]].numpy()
                x = x[state["mask"]]
            else:  # the pooler sees one row per text
                weight = np.ones(x.shape[0])
            x = x.double().numpy()
            hessians[n] += (x * weight[:, None]).T @ x
            sums[n] += x.sum(0)
            counts[n] += x.shape[0]
        hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tokenizer(texts[i : i + batch], return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            state["mask"] = enc["attention_mask"].bool()
            lengths = enc["attention_mask"].sum(1, keepdim=True).double()
            per_token = (1.0 / lengths if per_text else torch.ones_like(lengths)) * torch.ones(enc["attention_mask"].shape, dtype=torch.float64)
            state["weight"] = per_token
            bert(**enc)
    for h in hooks:
        h.remove()
    for n in linears:
        hessians[n + "#mean"] = sums[n] / counts[n]
        hessians[n + "#count"] = np.array(counts[n])
    return hessians


def stages(names):
    """Linears grouped by where their input comes from, in forward order."""
    out = []
    for layer in sorted({int(n.split(".")[2]) for n in names if n.startswith("encoder.layer.")}):
        pre = f"encoder.layer.{layer}."
        out.append([pre + "attention.self.query", pre + "attention.self.key", pre + "attention.self.value"])
        out.append([pre + "attention.output.dense"])
        out.append([pre + "intermediate.dense"])
        out.append([pre + "output.dense"])
    rest = [n for n in names if not any(n in s for s in out)]
    if rest:
        out.append(rest)
    return out


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(ROOT / "models/all-MiniLM-L6-v2"))
    p.add_argument("--calibration", default=str(ROOT / "tests/fixtures/calibration/calibration_texts.txt"))
    p.add_argument("--methods", default="rtn,rtn-search,gptq,gptq-search")
    p.add_argument("--formats", default="4:64")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calib-limit", type=int, default=0)
    p.add_argument("--hessian-cache", default="")
    p.add_argument("--damp", type=float, default=0.01)
    p.add_argument("--bias-correct", action="store_true")
    p.add_argument("--ablate", action="store_true", help="restore each Linear to float in turn")
    p.add_argument("--per-text", action="store_true", help="weight each calibration text equally, not each token")
    p.add_argument("--center", action="store_true", help="GPTQ on the input covariance (with --bias-correct)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model = SentenceTransformer(args.model, device="cpu")
    test = lines(ROOT / "tests/fixtures/minilm/sentences.txt")
    heldout = lines(ROOT / "tests/fixtures/calibration/heldout_sentences.txt")
    calib = lines(args.calibration)
    if args.calib_limit:
        calib = calib[: args.calib_limit]
    ref_test = load_file(str(ROOT / "tests/fixtures/minilm/expected_embeddings.safetensors"))["embeddings_normalized"]
    ref_held = model.encode(heldout, convert_to_numpy=True)
    assert len(test) == ref_test.shape[0], (len(test), ref_test.shape)

    bert = model[0].auto_model
    linears = {n: m for n, m in bert.named_modules() if isinstance(m, torch.nn.Linear)}
    originals = {n: m.weight.detach().double().numpy().copy() for n, m in linears.items()}
    originals_bias = {n: m.bias.detach().double().numpy().copy() for n, m in linears.items()}

    # X^T X of each Linear's input over every real token of the calibration texts.
    t0 = time.time()
    cache = Path(args.hessian_cache) if args.hessian_cache else None
    if cache and cache.exists():
        hessians = dict(np.load(cache))
    else:
        hessians = collect_hessians(bert, model.tokenizer, calib, linears, model.max_seq_length, per_text=args.per_text)
        if cache:
            np.savez(cache, **hessians)
    print(f"calibration: {len(calib)} texts, {time.time() - t0:.1f} s", flush=True)

    for fmt in args.formats.split(","):
        bits, group = map(int, fmt.split(":"))
        for method in args.methods.split(","):
            t0 = time.time()
            sequential = method.startswith("seq-")
            method = method.removeprefix("seq-")
            order = stages(list(linears)) if sequential else [list(linears)]
            for stage in order:
                if sequential:
                    sub = {n: linears[n] for n in stage}
                    hs = collect_hessians(bert, model.tokenizer, calib, sub, model.max_seq_length, per_text=args.per_text)
                for n in stage:
                    W, H = originals[n], (hs[n] if sequential else hessians[n])
                    if args.center:
                        src = hs if sequential else hessians
                        mu, c = src[n + "#mean"], float(src[n + "#count"])
                        H = H - c * np.outer(mu, mu)
                    if method == "rtn":
                        Q = quantize_rtn(W, bits, group)
                    elif method == "rtn-search":
                        Q = quantize_rtn(W, bits, group, H, search=True)
                    elif method == "gptq":
                        Q = quantize_gptq(W, H, bits, group, damp=args.damp)
                    elif method == "gptq-search":
                        Q = quantize_gptq(W, H, bits, group, search=True, damp=args.damp)
                    elif method == "gptq-refit":
                        Q = quantize_gptq(W, H, bits, group, search=True, damp=args.damp, refit=True)
                    linears[n].weight.data = torch.from_numpy(Q).float()
                    if args.bias_correct and linears[n].bias is not None:
                        mu = (hs if sequential else hessians)[n + "#mean"]
                        linears[n].bias.data = torch.from_numpy(originals_bias[n] + (W - Q) @ mu).float()
            got_t = model.encode(test, convert_to_numpy=True)
            got_h = model.encode(heldout, convert_to_numpy=True)
            ct, ch = cosines(got_t, ref_test), cosines(got_h, ref_held)
            worst = np.argsort(ct)[:3]
            if sequential:
                method = "seq-" + method
            print(f"{bits}-bit g{group} {method:16s} test min {ct.min():.5f} mean {ct.mean():.5f} | "
                  f"held-out min {ch.min():.5f} mean {ch.mean():.5f}  ({time.time() - t0:.0f} s) worst test {list(worst)}", flush=True)
            if args.ablate:
                for n, m in linears.items():
                    q = m.weight.data
                    m.weight.data = torch.from_numpy(originals[n]).float()
                    c = cosines(model.encode(test, convert_to_numpy=True), ref_test)
                    print(f"  float {n:45s} min {c.min():.5f} mean {c.mean():.5f}", flush=True)
                    m.weight.data = q
            for n, m in linears.items():
                m.weight.data = torch.from_numpy(originals[n]).float()
                m.bias.data = torch.from_numpy(originals_bias[n]).float()


if __name__ == "__main__":
    main()
