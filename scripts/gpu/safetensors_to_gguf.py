#!/usr/bin/env python3
"""A GGUF file for llama.cpp from the very checkpoint `tessera bench` wrote (config.json +
model.safetensors of a LlamaForCausalLM or OlmoeForCausalLM), so llama-bench runs the same
weights. Python's standard library only (no numpy, torch or gguf-py): tensors are copied byte for
byte, BF16 stays BF16; 1-D tensors and the MoE router become F32, as llama.cpp's converter
stores them. Per-expert HF tensors are stacked into llama.cpp's [expert, out, in] tensors.

For speed only, not for meaning: the vocabulary is llama.cpp's "none" tokenizer with
<arch>.vocab_size dummy tokens (llama-bench draws random token ids and never detokenizes), and
q_proj/k_proj are not permuted to llama.cpp's rotary layout (the same work, other numbers).

  safetensors_to_gguf.py MODEL_DIR OUT.gguf
  safetensors_to_gguf.py --bytes FILE.gguf [--active-experts K/N]   weight bytes a decode step reads
"""
import json
import mmap
import os
import struct
import sys

ALIGN = 32
GGUF_U32, GGUF_F32, GGUF_STR, GGUF_U64 = 4, 6, 8, 10
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
FILE_TYPE = {"BF16": 32, "F16": 1, "F32": 0}  # llama_ftype: MOSTLY_BF16, MOSTLY_F16, ALL_F32


def read_safetensors(path):
    f = open(path, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return header, data, 8 + n


class Tensor:
    """One GGUF tensor: its name, HF shape (outermost first), GGML type and its byte pieces."""

    def __init__(self, name, shape, ggml_type, pieces):
        self.name, self.shape, self.type, self.pieces = name, shape, ggml_type, pieces

    def nbytes(self):
        return sum(p[1] if isinstance(p, tuple) else len(p) for p in self.pieces)


def bf16_to_f32(raw):
    out = bytearray(len(raw) * 2)
    out[2::4] = raw[0::2]
    out[3::4] = raw[1::2]
    return bytes(out)


def f16_to_f32(raw):
    return struct.pack(f"<{len(raw) // 2}f", *struct.unpack(f"<{len(raw) // 2}e", raw))


def plan_tensors(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    header, data, base = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    arch_name = config["architectures"][0]
    arch = {"LlamaForCausalLM": "llama", "OlmoeForCausalLM": "olmoe"}.get(arch_name)
    if arch is None:
        sys.exit(f"{arch_name}: only LlamaForCausalLM and OlmoeForCausalLM are mapped")
    dtypes = {v["dtype"] for v in header.values()}
    if len(dtypes) != 1 or next(iter(dtypes)) not in ("BF16", "F16", "F32"):
        sys.exit(f"expected one float dtype in the checkpoint, got {sorted(dtypes)}")
    st_dtype = next(iter(dtypes))
    ggml_type = {"BF16": GGML_BF16, "F16": GGML_F16, "F32": GGML_F32}[st_dtype]

    def span(name):
        info = header[name]
        a, b = info["data_offsets"]
        return info["shape"], (base + a, b - a)

    def plain(gguf_name, hf_name, force_f32=False):
        shape, piece = span(hf_name)
        if (force_f32 or len(shape) == 1) and st_dtype != "F32":
            raw = data[piece[0]:piece[0] + piece[1]]
            return Tensor(gguf_name, shape, GGML_F32, [bf16_to_f32(raw) if st_dtype == "BF16" else f16_to_f32(raw)])
        return Tensor(gguf_name, shape, ggml_type, [piece])

    layers = config["num_hidden_layers"]
    tensors = [plain("token_embd.weight", "model.embed_tokens.weight")]
    for i in range(layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        tensors += [
            plain(b + "attn_norm.weight", p + "input_layernorm.weight"),
            plain(b + "attn_q.weight", p + "self_attn.q_proj.weight"),
            plain(b + "attn_k.weight", p + "self_attn.k_proj.weight"),
            plain(b + "attn_v.weight", p + "self_attn.v_proj.weight"),
            plain(b + "attn_output.weight", p + "self_attn.o_proj.weight"),
            plain(b + "ffn_norm.weight", p + "post_attention_layernorm.weight"),
        ]
        if arch == "llama":
            tensors += [plain(b + f"ffn_{n}.weight", p + f"mlp.{n}_proj.weight") for n in ("gate", "up", "down")]
            continue
        tensors += [
            plain(b + "attn_q_norm.weight", p + "self_attn.q_norm.weight"),
            plain(b + "attn_k_norm.weight", p + "self_attn.k_norm.weight"),
            plain(b + "ffn_gate_inp.weight", p + "mlp.gate.weight", force_f32=True),
        ]
        experts = config["num_experts"]
        for n in ("gate", "up", "down"):
            spans = [span(p + f"mlp.experts.{e}.{n}_proj.weight") for e in range(experts)]
            tensors.append(Tensor(b + f"ffn_{n}_exps.weight", [experts] + spans[0][0], ggml_type, [s[1] for s in spans]))
    tensors.append(plain("output_norm.weight", "model.norm.weight"))
    lm_head = "model.embed_tokens.weight" if config.get("tie_word_embeddings") else "lm_head.weight"
    tensors.append(plain("output.weight", lm_head))

    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    kv = [
        ("general.architecture", GGUF_STR, arch),
        ("general.name", GGUF_STR, os.path.basename(os.path.normpath(model_dir))),
        ("general.file_type", GGUF_U32, FILE_TYPE[st_dtype]),
        ("general.alignment", GGUF_U32, ALIGN),
        (f"{arch}.vocab_size", GGUF_U32, config["vocab_size"]),
        (f"{arch}.context_length", GGUF_U32, config.get("max_position_embeddings", 4096)),
        (f"{arch}.embedding_length", GGUF_U32, config["hidden_size"]),
        (f"{arch}.block_count", GGUF_U32, layers),
        (f"{arch}.feed_forward_length", GGUF_U32, config["intermediate_size"]),
        (f"{arch}.attention.head_count", GGUF_U32, heads),
        (f"{arch}.attention.head_count_kv", GGUF_U32, config.get("num_key_value_heads", heads)),
        (f"{arch}.attention.key_length", GGUF_U32, head_dim),
        (f"{arch}.attention.value_length", GGUF_U32, head_dim),
        (f"{arch}.rope.dimension_count", GGUF_U32, head_dim),
        (f"{arch}.rope.freq_base", GGUF_F32, float(config.get("rope_theta", 10000.0))),
        (f"{arch}.attention.layer_norm_rms_epsilon", GGUF_F32, float(config.get("rms_norm_eps", 1e-6))),
        ("tokenizer.ggml.model", GGUF_STR, "none"),
    ]
    if arch == "olmoe":
        kv += [(f"{arch}.expert_count", GGUF_U32, config["num_experts"]),
               (f"{arch}.expert_used_count", GGUF_U32, config["num_experts_per_tok"])]
    return kv, tensors, data


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(kind, value):
    if kind == GGUF_STR:
        return gguf_string(value)
    return struct.pack({GGUF_U32: "<I", GGUF_F32: "<f", GGUF_U64: "<Q"}[kind], value)


def write_gguf(model_dir, out_path):
    kv, tensors, data = plan_tensors(model_dir)
    head = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for key, kind, value in kv:
        head += gguf_string(key) + struct.pack("<I", kind) + gguf_value(kind, value)
    offset = 0
    for t in tensors:
        dims = list(reversed(t.shape))  # GGML's ne[0] is the innermost (contiguous) dimension
        head += gguf_string(t.name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        head += struct.pack("<IQ", t.type, offset)
        offset += (t.nbytes() + ALIGN - 1) // ALIGN * ALIGN
    head += b"\0" * ((-len(head)) % ALIGN)
    tmp = out_path + ".partial"
    with open(tmp, "wb", buffering=16 << 20) as f:
        f.write(head)
        for t in tensors:
            for p in t.pieces:
                if isinstance(p, tuple):
                    start, n = p
                    for at in range(start, start + n, 256 << 20):
                        f.write(data[at:min(start + n, at + (256 << 20))])
                else:
                    f.write(p)
            f.write(b"\0" * ((-t.nbytes()) % ALIGN))
    os.replace(tmp, out_path)


def read_gguf_tensors(path):
    """[(name, ggml_type, bytes)] of a GGUF file; bytes from the offsets (padding included)."""
    with open(path, "rb") as f:
        magic, version, n_tensors, n_kv = struct.unpack("<4sIQQ", f.read(24))
        assert magic == b"GGUF", path

        def string():
            return f.read(struct.unpack("<Q", f.read(8))[0]).decode("utf-8", "replace")

        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
        alignment = ALIGN

        def skip(kind):
            if kind == GGUF_STR:
                string()
            elif kind == 9:
                sub, count = struct.unpack("<IQ", f.read(12))
                for _ in range(count):
                    skip(sub)
            else:
                return f.read(sizes[kind])

        for _ in range(n_kv):
            key = string()
            kind = struct.unpack("<I", f.read(4))[0]
            raw = skip(kind)
            if key == "general.alignment":
                alignment = struct.unpack("<I", raw)[0]
        infos = []
        for _ in range(n_tensors):
            name = string()
            nd = struct.unpack("<I", f.read(4))[0]
            f.read(8 * nd)
            kind, off = struct.unpack("<IQ", f.read(12))
            infos.append((off, name, kind))
        data_start = (f.tell() + alignment - 1) // alignment * alignment
    end = os.path.getsize(path) - data_start
    infos.sort()
    return [(name, kind, (infos[i + 1][0] if i + 1 < len(infos) else end) - off)
            for i, (off, name, kind) in enumerate(infos)]


def decode_bytes(path, active_fraction=1.0):
    """Weight bytes one batch-1 decode step reads: every tensor but the embedding table (one row
    of it is read), expert tensors scaled by the fraction of experts a token uses."""
    total = 0.0
    for name, _, n in read_gguf_tensors(path):
        if name.startswith("token_embd"):
            continue
        total += n * (active_fraction if "_exps." in name else 1.0)
    return total


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--bytes":
        fraction = 1.0
        if "--active-experts" in args:
            k, n = args[args.index("--active-experts") + 1].split("/")
            fraction = int(k) / int(n)
        print(int(decode_bytes(args[1], fraction)))
    elif len(args) == 2:
        write_gguf(args[0], args[1])
    else:
        sys.exit(__doc__)
