#!/usr/bin/env python3
"""The decoder table of scripts/gpu/decoder_tables.sh: tessera, PyTorch and llama.cpp on one
random checkpoint, batch-1 decode against the memory-bandwidth floor and prompt processing
against the bf16 matrix rate, both measured on the machine (`peak`).

  decoder_table.py peak OUT.json              device copy bandwidth and bf16 matmul rate (torch)
  decoder_table.py table MODEL_DIR OUT_DIR    the table from OUT_DIR's results (markdown, stdout)

Decode bytes are the weights one token reads: every tensor but the embedding table, and of a
mixture of experts only the experts a token uses (top_k of num_experts). tessera --quantize 4
holds each Linear weight whose input size is a multiple of 64 as 4-bit words plus a bf16 scale
and bias per 64 (0.5625 bytes a weight), an untied lm_head included (since session 5, as MLX
does); the embedding and norms stay bf16. llama.cpp's
bytes are its GGUF tensors' (written by the shell script beside the results as llama-*.bytes).
Prefill FLOPs: 2 per active Linear weight per token (lm_head once, for the last token), plus
causal attention's 2 * T^2 * q_width per layer.
"""
import glob
import json
import os
import struct
import sys
import time


def peak(out_path):
    import torch

    dev = torch.device("cuda")
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    x = torch.empty(2 << 30, dtype=torch.bfloat16, device=dev)  # 4 GiB
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        t = time.perf_counter()
        y.copy_(x)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    result["copy_GBps"] = 2 * x.numel() * 2 / sorted(times)[len(times) // 2] / 1e9  # read + write
    del x, y
    n = 8192
    a = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    reps = 30
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    result["matmul_TFLOPs"] = 2 * n**3 * reps / (time.perf_counter() - t) / 1e12
    with open(out_path, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


def checkpoint_header(model_dir):
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


def model_stats(model_dir, seq):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    header = checkpoint_header(model_dir)
    experts = config.get("num_experts") or config.get("num_local_experts") or 0
    active = config["num_experts_per_tok"] / experts if experts else 1.0
    itemsize = {"BF16": 2, "F16": 2, "F32": 4}
    stats = {"bf16_bytes": 0.0, "q4_bytes": 0.0, "linear_params": 0.0, "head_params": 0.0, "total_bytes": 0.0}
    for name, info in header.items():
        numel = 1
        for d in info["shape"]:
            numel *= d
        nbytes = numel * itemsize[info["dtype"]]
        stats["total_bytes"] += nbytes
        if "embed_tokens" in name:
            continue
        share = active if ".experts." in name else 1.0
        stats["bf16_bytes"] += nbytes * share
        is_head = name.startswith("lm_head")
        linear = len(info["shape"]) == 2 and not is_head
        if linear:
            stats["linear_params"] += numel * share
        if is_head:
            stats["head_params"] += numel
        quantized = (linear or is_head) and info["shape"][1] % 64 == 0
        stats["q4_bytes"] += (numel * 0.5625 if quantized else nbytes) * share
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    q_width = heads * head_dim
    layers = config["num_hidden_layers"]
    stats["prefill_flops"] = (2 * stats["linear_params"] * seq + 2 * stats["head_params"]
                              + 2 * layers * seq * seq * q_width)
    stats["active_fraction"] = active
    return stats


def load_tessera(path, engines=None):
    rows = {}
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        doc = json.load(f)
    for r in doc["results"]:
        if engines and r["engine"] not in engines:
            continue
        quant = "q4" in r.get("version", "")
        weights = "4-bit g64" if quant else r["dtype"]
        key = (r["engine"], weights)
        row = rows.setdefault(key, {"pp": None, "tg": None, "error": None, "prefill_seq": None})
        if r.get("error"):
            row["error"] = r["error"][:80]
            continue
        if r["task"] == "prefill":
            row["pp"], row["prefill_seq"] = r["tokens_per_s"], r["seq"]
        elif r["task"] == "decode":
            row["tg"] = r["tokens_per_s"]
    return rows


def load_llama(out_dir):
    rows = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "llama-*.jsonl"))):
        label = os.path.basename(path)[len("llama-"):-len(".jsonl")]
        bytes_path = os.path.join(out_dir, f"llama-{label}.bytes")
        nbytes = float(open(bytes_path).read()) if os.path.exists(bytes_path) else None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                fa = r.get("flash_attn")
                fa_on = fa in (1, True, "1", "on", "enabled", "true")
                key = (f"llama.cpp fa={'on' if fa_on else 'off'}", label)
                row = rows.setdefault(key, {"pp": None, "tg": None, "error": None, "bytes": nbytes,
                                            "prefill_seq": None})
                if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0:
                    row["pp"], row["prefill_seq"] = r["avg_ts"], r["n_prompt"]
                elif r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0:
                    row["tg"] = r["avg_ts"]
    return rows


def fmt(v, spec):
    return "" if v is None else format(v, spec)


def table(model_dir, out_dir):
    peaks = {}
    if os.path.exists(os.path.join(out_dir, "peak.json")):
        with open(os.path.join(out_dir, "peak.json")) as f:
            peaks = json.load(f)
    bw, mm = peaks.get("copy_GBps"), peaks.get("matmul_TFLOPs")
    rows = {}
    rows.update(load_tessera(os.path.join(out_dir, "tessera-bf16.json")))
    rows.update(load_tessera(os.path.join(out_dir, "tessera-q4.json")))
    rows.update(load_tessera(os.path.join(out_dir, "torch.json"), engines={"torch-sdpa", "torch-eager"}))
    rows.update(load_llama(out_dir))
    stats_cache = {}

    def stats(seq):
        if seq not in stats_cache:
            stats_cache[seq] = model_stats(model_dir, seq or 512)
        return stats_cache[seq]

    base = stats(512)
    print(f"\n{os.path.basename(os.path.normpath(model_dir))}: checkpoint {base['total_bytes'] / 1e9:.2f} GB, "
          f"decode reads {base['bf16_bytes'] / 1e9:.2f} GB in bf16"
          + (f" (experts: {base['active_fraction']:.3f} of them a token)" if base["active_fraction"] < 1 else "")
          + (f"; {peaks.get('device', '?')}: copy {bw:.0f} GB/s, bf16 matmul {mm:.0f} TFLOP/s (measured)" if bw else ""))
    print()
    print("| engine | weights | pp tok/s | tg tok/s | GB/token | decode GB/s | % of copy BW | pp TFLOP/s | % of matmul |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for (engine, weights), r in rows.items():
        if r.get("error") and r["pp"] is None and r["tg"] is None:
            print(f"| {engine} | {weights} | not run: {r['error']} | | | | | | |")
            continue
        nbytes = r.get("bytes")
        if nbytes is None:
            nbytes = base["q4_bytes"] if weights.startswith("4-bit") else base["bf16_bytes"]
        gbps = nbytes * r["tg"] / 1e9 if r["tg"] else None
        s = stats(r.get("prefill_seq"))
        tflops = s["prefill_flops"] / r["prefill_seq"] * r["pp"] / 1e12 if r["pp"] else None
        print(f"| {engine} | {weights} | {fmt(r['pp'], '.0f')} | {fmt(r['tg'], '.1f')} | {nbytes / 1e9:.2f} | "
              f"{fmt(gbps, '.0f')} | {fmt(gbps and bw and 100 * gbps / bw, '.0f')} | {fmt(tflops, '.1f')} | "
              f"{fmt(tflops and mm and 100 * tflops / mm, '.0f')} |")
    seq = next((r["prefill_seq"] for r in rows.values() if r.get("prefill_seq")), 512)
    print(f"\npp: a {seq}-token prompt into an empty cache. tg: tessera and torch time one decode step after"
          f" the {seq}-token prompt (median of the runs), llama.cpp generates tg tokens after an empty one (mean).")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "peak":
        peak(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
