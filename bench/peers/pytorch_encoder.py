#!/usr/bin/env python3
"""PyTorch (transformers, eager) side of bench/encoder_latency: the same checkpoint directory, the
same token ids (same formula), the same timing (forward + wait for the device, median and p90 of
timed runs after warm-up), printed as the same CSV rows with engine=pytorch. Peak memory is
torch.cuda.max_memory_allocated. With --graph the forward is also captured as a CUDA graph
(torch.cuda.graphs) and replayed, PyTorch's strongest setting for small batches."""
import argparse
import statistics
import time

import torch
from transformers import AutoModel


def make_inputs(batch, seq, padding, device):
    real = seq - int(padding * seq)
    b = torch.arange(batch).unsqueeze(1)
    s = torch.arange(seq).unsqueeze(0)
    ids = 1000 + (b * 7919 + s * 104729) % 29000
    mask = (s < real).expand(batch, seq)
    ids = torch.where(mask, ids, torch.zeros_like(ids))
    return {"input_ids": ids.to(device), "attention_mask": mask.long().to(device),
            "token_type_ids": torch.zeros(batch, seq, dtype=torch.long, device=device)}


def time_runs(fn, runs, warmup, device):
    for _ in range(warmup):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    ms = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    return statistics.median(ms), ms[min(len(ms) - 1, len(ms) * 9 // 10)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtypes", default="float32,float16")
    p.add_argument("--shapes", default="1x128,8x128,32x128,32x512,128x128")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--padding", type=float, default=0.0)
    p.add_argument("--graph", action="store_true")
    a = p.parse_args()
    print("engine,device,dtype,batch,seq,padding,mode,median_ms,p90_ms,peak_mib", flush=True)
    for dtype_name in a.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        model = AutoModel.from_pretrained(a.model_dir, dtype=dtype).to(a.device).eval()
        for shape in a.shapes.split(","):
            batch, seq = map(int, shape.split("x"))
            inputs = make_inputs(batch, seq, a.padding, a.device)
            modes = [("eager", lambda: model(**inputs))]
            if a.graph and a.device == "cuda":
                modes.append(("graph", graphed(model, inputs)))
            for mode, fn in modes:
                if a.device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                with torch.inference_mode():
                    median, p90 = time_runs(fn, a.runs, a.warmup, a.device)
                peak = torch.cuda.max_memory_allocated() / 2**20 if a.device == "cuda" else 0.0
                print(f"pytorch,{a.device},{dtype_name},{batch},{seq},{a.padding:.2f},{mode},"
                      f"{median:.3f},{p90:.3f},{peak:.1f}", flush=True)


def graphed(model, inputs):
    """The forward captured once as a CUDA graph; a call replays it on the same input tensors."""
    with torch.inference_mode():
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                model(**inputs)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            model(**inputs)
    return graph.replay


if __name__ == "__main__":
    main()
