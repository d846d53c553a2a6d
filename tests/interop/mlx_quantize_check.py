#!/usr/bin/env python3
"""tessera's quantization against real MLX (pip `mlx`), both ways, on a real BERT checkpoint.

1. Bit identity: `tessera convert MODEL --quantize B --group-size G` packs every Linear weight;
   mx.quantize on the same float weights must give the same packed words, scales and biases,
   bit for bit.
2. Files move both ways: MLX writes a quantized directory (mx.save_safetensors of mx.quantize
   outputs + config.json "quantization"); `tessera forward` runs it and must give exactly what it
   gives on its own converted directory. MLX loads tessera's file into a small MLX BERT encoder
   (mx.quantized_matmul for every quantized Linear) whose last_hidden_state must match tessera's.
3. A calibrated directory (`tessera convert --quantize 4 --calibrate TEXTS`, same format, other
   values) loads in MLX: the MLX BERT on it matches `tessera forward` on it.
4. --write-fixtures DIR writes small MLX outputs for tests/quantization (hermetic, no Python).

Exit 0: all checks passed; 1: a check failed; 77: MLX is not importable (ctest reports the test
as skipped, never as passed).
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import mlx.core as mx
    import numpy as np
    from safetensors.numpy import load_file, save_file
except ImportError as e:  # reported by ctest as "Not Run", never as a pass
    print(f"SKIPPED: MLX interoperability not checked: {e}", file=sys.stderr)
    sys.exit(77)

FORMATS = [(4, 64), (8, 64), (4, 32), (8, 128), (2, 64)]
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def linear_prefixes(tensors):
    return sorted(k[: -len(".scales")] for k in tensors if k.endswith(".scales"))


def tessera(binary, *args, stdin=None):
    r = subprocess.run([binary, *args], capture_output=True, text=True, input=stdin)
    if r.returncode != 0:
        raise SystemExit(f"tessera {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def mlx_quantized_dir(model, out, bits, group_size):
    """What MLX users do: quantize every Linear of the encoder with mx.quantize and save."""
    float_tensors = load_file(str(model / "model.safetensors"))
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for name, value in float_tensors.items():
        is_linear = name.endswith(".weight") and value.ndim == 2 and "embeddings" not in name
        if is_linear and value.shape[1] % group_size == 0:
            q, s, b = mx.quantize(mx.array(value), group_size=group_size, bits=bits)
            base = name[: -len(".weight")]
            result[name], result[base + ".scales"], result[base + ".biases"] = q, s, b
        else:
            result[name] = mx.array(value)
    mx.save_safetensors(str(out / "model.safetensors"), result, metadata={"format": "mlx"})
    config = json.loads((model / "config.json").read_text())
    config["quantization"] = {"group_size": group_size, "bits": bits}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for f in model.iterdir():
        if f.is_file() and f.name not in ("config.json", "model.safetensors"):
            shutil.copy(f, out / f.name)


def mlx_bert(directory, input_ids):
    """A BERT encoder in MLX over a (possibly quantized) directory: last_hidden_state."""
    w = mx.load(str(directory / "model.safetensors"))
    config = json.loads((directory / "config.json").read_text())
    q = config.get("quantization")
    w = {k.removeprefix("bert."): v for k, v in w.items()}

    def linear(prefix, x):
        if prefix + ".scales" in w:
            y = mx.quantized_matmul(x, w[prefix + ".weight"], w[prefix + ".scales"], w[prefix + ".biases"],
                                    transpose=True, group_size=q["group_size"], bits=q["bits"])
        else:
            y = x @ w[prefix + ".weight"].T
        return y + w[prefix + ".bias"]

    def norm(prefix, x):
        return mx.fast.layer_norm(x, w[prefix + ".weight"], w[prefix + ".bias"], config.get("layer_norm_eps", 1e-12))

    ids = mx.array(input_ids)
    batch, seq = ids.shape
    heads = config["num_attention_heads"]
    head_dim = config["hidden_size"] // heads
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][mx.arange(seq)]
         + w["embeddings.token_type_embeddings.weight"][mx.zeros_like(ids)])
    x = norm("embeddings.LayerNorm", x)
    split = lambda t: t.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        qh, kh, vh = (split(linear(p + "attention.self." + n, x)) for n in ("query", "key", "value"))
        ctx = mx.fast.scaled_dot_product_attention(qh, kh, vh, scale=head_dim ** -0.5)
        ctx = ctx.transpose(0, 2, 1, 3).reshape(batch, seq, -1)
        h = norm(p + "attention.output.LayerNorm", linear(p + "attention.output.dense", ctx) + x)
        inner = linear(p + "intermediate.dense", h)
        inner = inner * 0.5 * (1 + mx.erf(inner / np.sqrt(2.0)))
        x = norm(p + "output.LayerNorm", linear(p + "output.dense", inner) + h)
    return np.array(x.astype(mx.float32))


def relative_error(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def write_fixtures(directory):
    """Small weights with edge-case groups and MLX's packed outputs, for tests/quantization."""
    rng = np.random.default_rng(2024)
    tensors = {}
    formats = [("float32", bits, group_size) for bits in (2, 4, 8) for group_size in (32, 64, 128)]
    formats += [(dtype, bits, 64) for dtype in ("float16", "bfloat16") for bits in (4, 8)]
    for dtype_name, bits, group_size in formats:
        w = rng.standard_normal((4, 128)).astype(np.float32)
        w[0, :group_size] = 0.25            # constant group: max == min
        w[1, :group_size] = 0.0             # all-zero group
        w[2, :group_size] = np.abs(w[2, :group_size])   # positive only: q(edge) = 0 rule
        w[3, :group_size] = -np.abs(w[3, :group_size])  # negative only
        wm = mx.array(w).astype(getattr(mx, dtype_name))
        qw, s, b = mx.quantize(wm, group_size=group_size, bits=bits)
        tag = f"{dtype_name}_b{bits}_g{group_size}"
        tensors[f"w_{tag}"], tensors[f"q_{tag}"] = wm, qw
        tensors[f"s_{tag}"], tensors[f"b_{tag}"] = s, b
    x = mx.array(rng.standard_normal((3, 128)).astype(np.float32))
    qw, s, b = tensors["q_float32_b4_g64"], tensors["s_float32_b4_g64"], tensors["b_float32_b4_g64"]
    tensors["x"] = x
    tensors["y_float32_b4_g64"] = mx.quantized_matmul(x, qw, s, b, transpose=True, group_size=64, bits=4)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mlx_quantize.safetensors"
    mx.save_safetensors(str(path), tensors, metadata={"mlx_version": mx.__version__})
    print(f"wrote {path} ({path.stat().st_size} bytes, MLX {mx.__version__})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="the tessera binary")
    parser.add_argument("--model", required=True, type=Path, help="a float BERT directory (all-MiniLM-L6-v2)")
    parser.add_argument("--write-fixtures", type=Path, help="also write MLX fixtures into this directory")
    parser.add_argument("--calibrate", type=Path,
                        default=Path(__file__).resolve().parents[1] / "fixtures/calibration/calibration_texts.txt",
                        help="calibration texts for the calibrated-directory check")
    args = parser.parse_args()
    print(f"MLX {mx.__version__} on {mx.default_device()}")
    if args.write_fixtures:
        write_fixtures(args.write_fixtures)

    source = load_file(str(args.model / "model.safetensors"))
    rng = np.random.default_rng(7)
    input_ids = rng.integers(1000, 20000, size=(2, 12)).astype(np.int64)
    input_ids[:, 0], input_ids[:, -1] = 101, 102
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_file({"input_ids": input_ids}, str(tmp / "inputs.safetensors"))
        for bits, group_size in FORMATS:
            tag = f"{bits}-bit, group {group_size}"
            ours = tmp / f"tessera_q{bits}_g{group_size}"
            tessera(args.tessera, "convert", str(args.model), "--output", str(ours),
                    "--quantize", str(bits), "--group-size", str(group_size))
            converted = load_file(str(ours / "model.safetensors"))
            prefixes = linear_prefixes(converted)
            identical = 0
            for prefix in prefixes:
                q, s, b = mx.quantize(mx.array(source[prefix + ".weight"]), group_size=group_size, bits=bits)
                identical += all(bits_equal(np.array(m), converted[prefix + suffix])
                                 for m, suffix in ((q, ".weight"), (s, ".scales"), (b, ".biases")))
            check(identical == len(prefixes) and len(prefixes) > 0,
                  f"{tag}: tessera convert == mx.quantize bit for bit on {identical}/{len(prefixes)} Linear layers"
                  " (packed weights, scales, biases)")

            theirs = tmp / f"mlx_q{bits}_g{group_size}"
            mlx_quantized_dir(args.model, theirs, bits, group_size)
            outputs = {}
            for name, directory in (("tessera", ours), ("mlx", theirs)):
                out = tmp / f"out_{name}.safetensors"
                tessera(args.tessera, "forward", str(directory), "--inputs", str(tmp / "inputs.safetensors"),
                        "--output", str(out))
                outputs[name] = load_file(str(out))["last_hidden_state"]
            check(bits_equal(outputs["mlx"], outputs["tessera"]),
                  f"{tag}: tessera forward on MLX's file == on its own file (bit for bit)")
            reference = mlx_bert(ours, input_ids)
            error = relative_error(outputs["tessera"], reference)
            check(error < 1e-5, f"{tag}: MLX BERT on tessera's file vs tessera forward: relative error {error:.2e}")
        calibrated = tmp / "tessera_q4_g64_calibrated"
        tessera(args.tessera, "convert", str(args.model), "--output", str(calibrated), "--quantize", "4",
                "--group-size", "64", "--calibrate", str(args.calibrate))
        out = tmp / "out_calibrated.safetensors"
        tessera(args.tessera, "forward", str(calibrated), "--inputs", str(tmp / "inputs.safetensors"), "--output", str(out))
        ours = load_file(str(out))["last_hidden_state"]
        converted = load_file(str(calibrated / "model.safetensors"))
        prefixes = linear_prefixes(converted)
        differ = sum(not bits_equal(np.array(mx.quantize(mx.array(source[p + ".weight"]), group_size=64, bits=4)[0]),
                                    converted[p + ".weight"]) for p in prefixes)
        check(differ == len(prefixes) and len(prefixes) > 0,
              f"4-bit, group 64, calibrated: {differ}/{len(prefixes)} Linear layers differ from round-to-nearest")
        error = relative_error(ours, mlx_bert(calibrated, input_ids))
        check(error < 1e-5, f"4-bit, group 64, calibrated: MLX BERT on tessera's file vs tessera forward: "
                            f"relative error {error:.2e}")
    print("FAILED: " + "; ".join(failures) if failures else "all MLX interoperability checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
