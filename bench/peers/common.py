"""What every peer driver shares: reading the plan that `tessera bench` writes, the inputs files,
the timing loop, and the result schema (one JSON line per case, the same fields as tessera's
BenchResult, src/runtime/bench/bench_result.h).

A driver defines engines (name, version, load, prepare) and calls run_driver(); it is started as
`python <engine>_peer.py --plan PLAN.json`. Progress goes to stderr, results to stdout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def read_plan():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True, help="plan.json written by tessera bench")
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    # Thread pools read these when the engine's library is imported, so set them first.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(plan["threads"])
    # Keep stderr to one progress line per case: no loading bars or advice from transformers.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return plan


def load_inputs(path):
    from safetensors.numpy import load_file

    return load_file(path)  # input_ids, attention_mask: int64 [batch, seq]


def reset_peak_rss():
    """Resets the kernel's peak RSS counter (Linux), as tessera does before each case."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def summarize(samples_ms):
    """Median and p90 with linear interpolation: numpy's default, as tessera computes them."""
    s = np.asarray(samples_ms, dtype=np.float64)
    return {
        "median_ms": float(np.percentile(s, 50)),
        "p90_ms": float(np.percentile(s, 90)),
        "mean_ms": float(s.mean()),
        "min_ms": float(s.min()),
    }


def record(engine, case, plan, *, stats=None, load_ms=0.0, peak_mb=0.0, device_peak_mb=None, error=None):
    r = {
        "engine": engine.name,
        "version": engine.version(),
        "model": case["model"],
        "device": case["device"],
        "dtype": case["dtype"],
        "batch": case["batch"],
        "seq": case["seq"],
        "task": task_of(case),
        "padding": plan["padding"],
        "threads": plan["threads"],
        "runs": plan["runs"],
        "median_ms": None,
        "p90_ms": None,
        "mean_ms": None,
        "min_ms": None,
        "tokens_per_s": None,
        "load_ms": load_ms,
        "peak_rss_mb": peak_mb,
        "device_peak_mb": device_peak_mb,
        "error": error,
    }
    if stats:
        r.update(stats)
        tokens = case["batch"] if task_of(case) == "decode" else case["batch"] * case["seq"]
        r["tokens_per_s"] = tokens / (stats["median_ms"] / 1000.0)
    return r


def task_of(case):
    """forward (encoders), or for causal LMs prefill / decode (see BenchCase in bench_grid.h)."""
    return case.get("task", "forward")


def one_line_error(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]


class Engine:
    """One engine (one row per case). Subclasses implement the four hooks."""

    name = "engine"
    generates = False  # runs the prefill/decode tasks of causal LMs

    def version(self):
        raise NotImplementedError

    def unsupported(self, case):
        """Why this case cannot run here (a short reason), or None."""
        return None

    def convert(self, model_dir):
        """One-time work that is not part of loading (e.g. an ONNX export, cached); not timed."""

    def load(self, model_dir, device, dtype):
        """The loaded model; timed as load_ms, once per model/device/dtype."""
        raise NotImplementedError

    def prepare(self, model, inputs, case):
        """A function of no arguments that runs what the case's task times (one forward pass, a
        prefill, or one decode step) and waits for its outputs."""
        raise NotImplementedError

    def reset_device_peak(self, device):
        pass

    def device_peak_mb(self, device):
        return None


def measure(engine, case, plan, loaded):
    key = (case["model_dir"], case["device"], case["dtype"])
    if loaded.get("key") != key:
        loaded.clear()  # the previous model is freed before the next load is timed
        engine.convert(case["model_dir"])
        start = time.perf_counter()
        loaded["model"] = engine.load(case["model_dir"], case["device"], case["dtype"])
        loaded["load_ms"] = (time.perf_counter() - start) * 1000
        loaded["key"] = key
    forward = engine.prepare(loaded["model"], load_inputs(case["inputs"]), case)
    reset_peak_rss()
    engine.reset_device_peak(case["device"])
    # The first warm-up run is timed: an engine far slower than the others (MLX's Linux CPU wheel
    # ships a reference BLAS) would otherwise hold the suite for many minutes per case.
    start = time.perf_counter()
    forward()
    first_s = time.perf_counter() - start
    if first_s > plan["peer_max_run_s"]:
        return record(engine, case, plan, load_ms=loaded["load_ms"], peak_mb=peak_rss_mb(),
                      error=f'one run took {first_s:.1f} s, over the {plan["peer_max_run_s"]:g} s budget (--peer-max-run-s)')
    for _ in range(plan["warmup"] - 1):
        forward()
    samples = []
    for _ in range(plan["runs"]):
        start = time.perf_counter()
        forward()
        samples.append((time.perf_counter() - start) * 1000)
    return record(engine, case, plan, stats=summarize(samples), load_ms=loaded["load_ms"], peak_mb=peak_rss_mb(),
                  device_peak_mb=engine.device_peak_mb(case["device"]))


def run_driver(plan, engines):
    """Every case of the plan on every engine, engine by engine (one model resident at a time)."""
    for engine in engines:
        loaded = {}
        over_budget = {}  # (model, device, dtype) -> fewest tokens whose run was over the budget
        for case in plan["cases"]:
            label = f'{engine.name} {case["model"]} {case["device"]} {case["dtype"]} {case["batch"]}x{case["seq"]}'
            group, tokens = (case["model_dir"], case["device"], case["dtype"]), case["batch"] * case["seq"]
            reason = engine.unsupported(case)
            if reason is None and task_of(case) != "forward" and not engine.generates:
                reason = "this peer runs encoders only"
            if reason is None and tokens >= over_budget.get(group, float("inf")):
                reason = f"a smaller case was already over the {plan['peer_max_run_s']:g} s budget (--peer-max-run-s)"
            if reason is None:
                try:
                    result = measure(engine, case, plan, loaded)
                except Exception as e:  # a failing case is reported in its row; the others still run
                    result = record(engine, case, plan, error=one_line_error(e))
            else:
                result = record(engine, case, plan, error=reason)
            if result["error"] and "budget" in result["error"]:
                over_budget[group] = min(tokens, over_budget.get(group, float("inf")))
            shown = f'{result["median_ms"]:.2f} ms' if result["median_ms"] is not None else f'not run: {result["error"]}'
            print(f"  {label}: {shown}", file=sys.stderr, flush=True)
            print(json.dumps(result), flush=True)


def run_unavailable(plan, engine_names, reason):
    """Rows saying why a whole driver cannot run (e.g. its package is not installed)."""

    class Missing(Engine):
        def version(self):
            return ""

    for name in engine_names:
        missing = Missing()
        missing.name = name
        for case in plan["cases"]:
            print(json.dumps(record(missing, case, plan, error=reason)), flush=True)
    print(f"  {', '.join(engine_names)}: not run: {reason}", file=sys.stderr, flush=True)


def run_peer(make_engines, engine_names, install_hint):
    """A peer driver's whole main: its engines from make_engines(plan) run the plan, or, when the
    engine's package does not import, one "not installed" row per engine name."""
    plan = read_plan()
    try:
        engines = make_engines(plan)
    except ImportError as e:
        run_unavailable(plan, engine_names, f"not installed ({e.name}); {install_hint}")
        return 0
    run_driver(plan, engines)
    return 0
