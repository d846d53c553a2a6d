"""BERT / RoBERTa / XLM-RoBERTa encoders in MLX, loading a Hugging Face checkpoint directory
(config.json + model.safetensors) as published: the same architecture and weights tessera and
transformers run, written with MLX's fused kernels (mx.fast.layer_norm and
mx.fast.scaled_dot_product_attention) the way an MLX user would."""
import json
import math
import os
import re

import mlx.core as mx
import mlx.nn as nn


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, i = c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.eps = c["layer_norm_eps"]
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attention_out = nn.Linear(d, d)
        self.attention_norm = nn.LayerNorm(d, eps=self.eps)
        self.intermediate = nn.Linear(d, i)
        self.output = nn.Linear(i, d)
        self.output_norm = nn.LayerNorm(d, eps=self.eps)

    def __call__(self, x, mask):
        b, s, d = x.shape
        split = lambda t: t.reshape(b, s, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scale = 1.0 / math.sqrt(d // self.heads)
        context = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        context = context.transpose(0, 2, 1, 3).reshape(b, s, d)
        x = self.attention_norm(x + self.attention_out(context))
        return self.output_norm(x + self.output(nn.gelu(self.intermediate(x))))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.roberta_positions = c["model_type"] in ("roberta", "xlm-roberta", "camembert")
        self.pad_id = c.get("pad_token_id", 0)
        self.word_embeddings = nn.Embedding(c["vocab_size"], d)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], d)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], d)
        self.embedding_norm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.layers = [Layer(c) for _ in range(c["num_hidden_layers"])]
        self.pooler = nn.Linear(d, d)

    def __call__(self, input_ids, attention_mask):
        b, s = input_ids.shape
        if self.roberta_positions:  # positions count real tokens from padding_idx + 1
            real = (input_ids != self.pad_id).astype(mx.int32)
            positions = mx.cumsum(real, axis=1) * real + self.pad_id
        else:
            positions = mx.broadcast_to(mx.arange(s), (b, s))
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = self.embedding_norm(x + self.token_type_embeddings(mx.zeros_like(input_ids)))
        keep = attention_mask.astype(mx.bool_)[:, None, None, :]
        mask = mx.where(keep, mx.array(0, x.dtype), mx.array(-math.inf, x.dtype))
        for layer in self.layers:
            x = layer(x, mask)
        return x, mx.tanh(self.pooler(x[:, 0]))


# Hugging Face tensor names -> this module's parameter names (after the base prefix is stripped).
_RENAMES = [
    (r"^embeddings\.LayerNorm\.", "embedding_norm."),
    (r"^embeddings\.", ""),
    (r"^encoder\.layer\.", "layers."),
    (r"\.attention\.self\.", "."),
    (r"\.attention\.output\.dense\.", ".attention_out."),
    (r"\.attention\.output\.LayerNorm\.", ".attention_norm."),
    (r"\.intermediate\.dense\.", ".intermediate."),
    (r"\.output\.dense\.", ".output."),
    (r"\.output\.LayerNorm\.", ".output_norm."),
    (r"^pooler\.dense\.", "pooler."),
]
_BASE_PREFIX = r"^(bert|roberta)\."


def _mlx_name(name):
    name = re.sub(_BASE_PREFIX, "", name)
    for pattern, replacement in _RENAMES:
        name = re.sub(pattern, replacement, name)
    return name


def load_encoder(model_dir, dtype=mx.float32):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    model = Encoder(config)
    weights = mx.load(os.path.join(model_dir, "model.safetensors"))
    wanted = {k for k, _ in nn.utils.tree_flatten(model.parameters())}
    renamed = {_mlx_name(k): v.astype(dtype) for k, v in weights.items()}
    missing = wanted - renamed.keys()
    if missing:
        raise ValueError(f"{model_dir}: checkpoint lacks {sorted(missing)[:5]}")
    model.load_weights([(k, v) for k, v in renamed.items() if k in wanted])
    mx.eval(model.parameters())
    return model
