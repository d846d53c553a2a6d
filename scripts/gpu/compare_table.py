#!/usr/bin/env python3
"""Joins the CSV rows of bench/encoder_latency (tessera) and bench/peers/pytorch_encoder.py into
one markdown table: per dtype and shape, each engine's median ms (eager, CUDA graph), the speed-up
of tessera's best over PyTorch eager and over PyTorch's best (16-bit rows compare with PyTorch
float16), peak GPU memory, and for padded runs the cost relative to the unpadded batch."""
import csv
import sys


def load(paths):
    rows = {}
    for path in paths:
        with open(path) as f:
            for r in csv.DictReader(line for line in f if not line.startswith("#")):
                if not r.get("engine") or r["engine"] == "engine":
                    continue
                key = (r["engine"], r["dtype"], int(r["batch"]), int(r["seq"]), float(r["padding"]), r["mode"])
                rows[key] = (float(r["median_ms"]), float(r["peak_mib"]))
    return rows


def main():
    rows = load(sys.argv[1:])
    cases = sorted({(k[1], k[2], k[3], k[4]) for k in rows if k[0] == "tessera"},
                   key=lambda c: (["float32", "float16", "bfloat16"].index(c[0]), c[3], c[1] * c[2], c[1]))
    print("| dtype | B×S | pad | tessera eager | tessera graph | PyTorch eager | PyTorch graph | "
          "× PT eager | × PT best | peak MiB (ours / PT) | padded/unpadded |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    # Padded rows: "tessera eager" is the best of eager and packed (padding skipped).
    def ms(key):
        return rows[key][0] if key in rows else None
    def fmt(v):
        return f"{v:.2f}" if v is not None else "–"
    for dtype, b, s, pad in cases:
        te, tg = ms(("tessera", dtype, b, s, pad, "eager")), ms(("tessera", dtype, b, s, pad, "graph"))
        tp = ms(("tessera", dtype, b, s, pad, "packed"))
        peer_dtype = "float32" if dtype == "float32" else "float16"
        pe, pg = ms(("pytorch", peer_dtype, b, s, pad, "eager")), ms(("pytorch", peer_dtype, b, s, pad, "graph"))
        best = min(v for v in (te, tg, tp) if v is not None)
        peer_best = min((v for v in (pe, pg) if v is not None), default=None)
        ours_peak = max(rows[k][1] for k in rows if k[:5] == ("tessera", dtype, b, s, pad))
        peer_peak = max((rows[k][1] for k in rows if k[:5] == ("pytorch", peer_dtype, b, s, pad)), default=None)
        unpadded = ms(("tessera", dtype, b, s, 0.0, "graph")) or ms(("tessera", dtype, b, s, 0.0, "eager"))
        padded_ratio = f"{best / unpadded:.2f}" if pad > 0 and unpadded else ""
        if tp is not None:
            te = min(te, tp)
        print(f"| {dtype} | {b}×{s} | {pad:g} | {fmt(te)} | {fmt(tg)} | {fmt(pe)} | {fmt(pg)} | "
              f"{fmt(pe / best if pe else None)} | {fmt(peer_best / best if peer_best else None)} | "
              f"{ours_peak:.0f} / {fmt(peer_peak)} | {padded_ratio} |")


if __name__ == "__main__":
    main()
