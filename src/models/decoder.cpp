// The generic decoder behind every DecoderSpec (see decoder.h).
#include "models/decoder.h"

#include <algorithm>
#include <cmath>

#include "models/causal_lm.h"
#include "models/rotary_embedding.h"
#include "nn/gated_mlp.h"
#include "nn/sparse_moe.h"

namespace tessera {

namespace {

struct DecoderConfig {
  int64_t vocab, hidden, layers, heads, kv_heads, head_dim, intermediate;
  float eps;
  std::string act;
  bool tie, qkv_bias, o_bias;
  std::optional<float> clip_qkv;
  std::vector<std::optional<int64_t>> window;  // per layer: sliding-window size, if any
  // Mixture of experts.
  int64_t experts = 0, top_k = 0, expert_intermediate = 0, shared_intermediate = 0;
  bool normalize_top_k = false;
  std::vector<bool> sparse;  // per layer: MoE (true) or dense MLP

  DecoderConfig(const ModelConfig& c, const DecoderSpec& spec)
      : vocab(c.get_positive_int("vocab_size")),
        hidden(c.get_positive_int("hidden_size")),
        layers(c.get_positive_int("num_hidden_layers")),
        heads(c.get_positive_int("num_attention_heads")),
        kv_heads(c.get_positive_int("num_key_value_heads", heads)),
        head_dim(c.get_positive_int("head_dim", hidden / heads)),
        intermediate(c.get_int("intermediate_size")),
        eps(float(c.get_float("rms_norm_eps", 1e-6))),
        act(c.get_string("hidden_act", "silu")),
        tie(c.get_bool("tie_word_embeddings", spec.tie_word_embeddings)),
        qkv_bias(c.get_bool("qkv_bias", c.get_bool("attention_bias", spec.qkv_bias))),
        o_bias(c.get_bool("attention_bias", false)) {
    TESSERA_CHECK(heads % kv_heads == 0, "config",
                  c.source() + ": num_attention_heads " + std::to_string(heads) +
                      " is not a multiple of num_key_value_heads " + std::to_string(kv_heads));
    if (c.has("clip_qkv")) clip_qkv = float(c.get_float("clip_qkv", 0));

    std::vector<std::string> types = c.get_strings("layer_types");
    TESSERA_CHECK(types.empty() || int64_t(types.size()) == layers, "config",
                  c.source() + ": layer_types has " + std::to_string(types.size()) + " entries for " +
                      std::to_string(layers) + " layers");
    for (int64_t i = 0; i < layers; ++i) {
      bool sliding = types.empty() ? spec.sliding_window_all_layers : types[size_t(i)] == "sliding_attention";
      if (sliding && c.has("sliding_window") && c.get_int("sliding_window") > 0)
        window.push_back(c.get_int("sliding_window"));
      else
        window.push_back(std::nullopt);
    }

    if (!spec.moe) return;
    // Mixtral and transformers 5's Qwen3-MoE say num_local_experts, the others num_experts.
    experts = c.has("num_experts") ? c.get_int("num_experts") : c.get_int("num_local_experts");
    top_k = c.get_int("num_experts_per_tok");
    TESSERA_CHECK(top_k >= 1 && top_k <= experts, "config",
                  c.source() + ": num_experts_per_tok must be in [1, " + std::to_string(experts) + "]");
    expert_intermediate = c.get_int("moe_intermediate_size", intermediate);
    shared_intermediate = c.get_int("shared_expert_intermediate_size", 0);
    normalize_top_k = c.get_bool("norm_topk_prob", spec.normalize_top_k);
    std::vector<int64_t> dense_layers = c.get_ints("mlp_only_layers");
    int64_t step = c.get_int("decoder_sparse_step", 1);
    for (int64_t i = 0; i < layers; ++i)
      sparse.push_back(std::find(dense_layers.begin(), dense_layers.end(), i) == dense_layers.end() &&
                       step > 0 && (i + 1) % step == 0);
  }
};

// A decode step at a data position (forward_step): the position, and the key mask its first
// layer builds for all of them.
struct StepAt {
  Array position;
  std::optional<Array> mask;
};

struct DecoderLayer {
  Array input_norm, post_attention_norm;
  nn::Linear q, k, v, o;
  std::optional<Array> q_norm, k_norm;
  std::optional<nn::Linear> qkv;  // q, k and v as one Linear (nn::fuse_linears)
  std::optional<nn::GatedMLP> mlp;
  std::optional<nn::SparseMoE> moe;
};

// How the queries of one forward call may attend to the cached keys.
struct AttentionMask {
  std::optional<Array> mask;  // bool [B or 1, 1, S, Sk], true = attend
  bool causal = false;
};

class DecoderModel : public CausalLM {
 public:
  DecoderModel(const ModelConfig& config, Weights& w, const DecoderSpec& spec)
      : spec_(spec), cfg_(config, spec), rotary_(config, cfg_.head_dim) {
    const DecoderConfig& c = cfg_;
    embed_ = w.get("model.embed_tokens.weight", {c.vocab, c.hidden});
    for (int64_t i = 0; i < c.layers; ++i) layers_.push_back(load_layer(w, i));
    norm_ = w.get("model.norm.weight", {c.hidden});
    // An untied head is a Linear like any other: quantized with the rest (as MLX does), so a
    // 4-bit decode step reads it in 4 bits too (it is an eighth of an 8B model's bf16 bytes).
    if (!c.tie) lm_head_ = nn::Linear::load(w, "lm_head", c.hidden, c.vocab, false);
  }

  int64_t vocab_size() const override { return cfg_.vocab; }

  KVCache make_cache(const CacheOptions& options) const override {
    KVCache cache;
    for (int64_t i = 0; i < cfg_.layers; ++i) {
      std::optional<int64_t> keep = options.max_size;
      if (auto w = cfg_.window[size_t(i)]) keep = keep ? std::min(*keep, *w) : *w;
      cache.layers.emplace_back(keep, options.quantization);
    }
    return cache;
  }

  Array forward(const Array& ids, KVCache& cache, bool last_only) override {
    check_ids(ids);
    return run(ids, {&cache}, {ids.shape(1)}, last_only, {});
  }

  // Rotary frequencies fixed by the config, and every MLP free of host round trips (an MoE layer
  // on its gathered path for the cache's batch).
  bool supports_position_data(const KVCache& cache, int64_t steps) const override {
    if (!rotary_.position_as_data() || int64_t(cache.layers.size()) != cfg_.layers) return false;
    for (const DecoderLayer& l : layers_)
      if (l.moe && !l.moe->stays_on_device(cache.batch())) return false;
    return cache.accepts_position_data(steps);
  }

  Array forward_step(const Array& ids, KVCache& cache, const Array& position) override {
    TESSERA_CHECK(ids.ndim() == 2 && ids.shape(1) == 1, "forward",
                  "a decode step takes ids [batch, 1], got " + to_string(ids.shape()));
    TESSERA_CHECK(supports_position_data(cache, 1), "forward", "this model or cache takes no data positions");
    if (ids.evaluated() && ids.buffer()->on_host()) check_ids(ids);  // device ids: validated where made
    return run(ids, {&cache}, {1}, true, {}, position);
  }

  Array forward_packed(const std::vector<Array>& ids, const std::vector<KVCache*>& caches) override {
    TESSERA_CHECK(!ids.empty() && ids.size() == caches.size(), "forward",
                  "packed sequences need one cache each, got " + std::to_string(ids.size()) + " sequences and " +
                      std::to_string(caches.size()) + " caches");
    std::vector<int64_t> lengths;
    for (const Array& s : ids) {
      check_ids(s);
      TESSERA_CHECK(s.shape(0) == 1, "forward", "a packed sequence is [1, length], got " + to_string(s.shape()));
      lengths.push_back(s.shape(1));
    }
    std::vector<Array> as_int64;
    for (const Array& s : ids) as_int64.push_back(astype(s, Dtype::int64));
    return run(concatenate(as_int64, 1), caches, lengths, true, {});
  }

  ModelOutputs forward(const ModelInputs& in) override {
    KVCache cache = make_cache(CacheOptions{});
    std::vector<bool> padding;
    if (in.attention_mask) {
      TESSERA_CHECK(in.attention_mask->shape() == in.input_ids.shape(), "forward",
                    "attention_mask shape " + to_string(in.attention_mask->shape()) + " differs from input_ids");
      for (int64_t m : astype(*in.attention_mask, Dtype::int64).to_vector<int64_t>()) padding.push_back(m == 0);
      if (std::find(padding.begin(), padding.end(), true) == padding.end()) padding.clear();
    }
    check_ids(in.input_ids);
    return {{"logits", run(in.input_ids, {&cache}, {in.input_ids.shape(1)}, false, padding)}};
  }

 private:
  DecoderLayer load_layer(Weights& w, int64_t i) {
    const DecoderConfig& c = cfg_;
    std::string p = "model.layers." + std::to_string(i) + ".";
    std::string attn = p + "self_attn.";
    int64_t q_width = c.heads * c.head_dim, kv_width = c.kv_heads * c.head_dim;
    DecoderLayer l{w.get(p + "input_layernorm.weight", {c.hidden}),
                   w.get(p + "post_attention_layernorm.weight", {c.hidden}),
                   nn::Linear::load(w, attn + "q_proj", c.hidden, q_width, c.qkv_bias),
                   nn::Linear::load(w, attn + "k_proj", c.hidden, kv_width, c.qkv_bias),
                   nn::Linear::load(w, attn + "v_proj", c.hidden, kv_width, c.qkv_bias),
                   nn::Linear::load(w, attn + "o_proj", q_width, c.hidden, c.o_bias),
                   std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
    if (w.options().fuse_projections) l.qkv = nn::fuse_linears({&l.q, &l.k, &l.v});
    if (spec_.qk_norm == QKNorm::per_head) {
      l.q_norm = w.get(attn + "q_norm.weight", {c.head_dim});
      l.k_norm = w.get(attn + "k_norm.weight", {c.head_dim});
    } else if (spec_.qk_norm == QKNorm::full) {
      l.q_norm = w.get(attn + "q_norm.weight", {q_width});
      l.k_norm = w.get(attn + "k_norm.weight", {kv_width});
    }
    std::string mlp = p + spec_.mlp + ".";
    nn::GatedMLP::Names names{spec_.gate_proj, spec_.up_proj, spec_.down_proj};
    if (!spec_.moe || !c.sparse[size_t(i)]) {
      l.mlp = nn::GatedMLP::load(w, mlp, names, c.hidden, c.intermediate, c.act);
      return l;
    }
    nn::SparseMoE moe;
    moe.router = nn::Linear::load(w, mlp + spec_.router, c.hidden, c.experts, false);
    for (int64_t e = 0; e < c.experts; ++e)
      moe.experts.push_back(nn::GatedMLP::load(w, mlp + "experts." + std::to_string(e) + ".", names, c.hidden,
                                               c.expert_intermediate, c.act));
    moe.top_k = int(c.top_k);
    moe.normalize_top_k = c.normalize_top_k;
    if (c.shared_intermediate > 0) {
      moe.shared_expert = nn::GatedMLP::load(w, mlp + "shared_expert.", names, c.hidden, c.shared_intermediate, c.act);
      moe.shared_expert_gate = nn::Linear::load(w, mlp + "shared_expert_gate", c.hidden, 1, false);
    }
    l.moe = std::move(moe);
    return l;
  }

  void check_ids(const Array& ids) const {
    TESSERA_CHECK(ids.ndim() == 2, "forward", "input_ids must be [batch, sequence], got " + to_string(ids.shape()));
    TESSERA_CHECK(ids.dtype() == Dtype::int64 || ids.dtype() == Dtype::int32, "forward",
                  "input_ids must be int64 or int32, got " + std::string(name(ids.dtype())));
    for (int64_t id : astype(ids, Dtype::int64).to_vector<int64_t>())
      TESSERA_CHECK(id >= 0 && id < cfg_.vocab, "forward",
                    "input_ids contains " + std::to_string(id) + ", outside the vocabulary of " +
                        std::to_string(cfg_.vocab));
  }

  // ids [B,T] holds the sequences one after another along T (lengths[i] tokens each, past in
  // caches[i]); with several sequences B is 1. last_only: the last token of each sequence,
  // [N,1,vocab] (with one sequence [B,1,vocab]); else [B,T,vocab].
  // position: the single sequence's first position as data (forward_step), else cache offsets.
  Array run(const Array& ids, const std::vector<KVCache*>& caches, const std::vector<int64_t>& lengths,
            bool last_only, const std::vector<bool>& padding, const std::optional<Array>& position = std::nullopt) {
    std::optional<StepAt> at;
    if (position) at = StepAt{*position, std::nullopt};
    const DecoderConfig& c = cfg_;
    for (const KVCache* cache : caches)
      TESSERA_CHECK(int64_t(cache->layers.size()) == c.layers, "forward", "the KV cache belongs to another model");
    Array x = take(embed_, ids, 0);
    std::vector<LayerCache*> layer_caches(caches.size());
    for (size_t i = 0; i < layers_.size(); ++i) {
      const DecoderLayer& l = layers_[i];
      for (size_t s = 0; s < caches.size(); ++s) layer_caches[s] = &caches[s]->layers[i];
      // The norms ride in the next products' prologues (nn::LinearInput), the residual adds in
      // the output projections' epilogues (nn::Linear::plus_residual).
      x = attention(l, nn::LinearInput(x, l.input_norm, c.eps), x, layer_caches, lengths, c.window[i], padding,
                    at ? &*at : nullptr);
      nn::LinearInput h(x, l.post_attention_norm, c.eps);
      x = l.moe ? add(x, (*l.moe)(h.applied())) : (*l.mlp)(h, x);
    }
    if (last_only && !(lengths.size() == 1 && lengths[0] == 1)) {
      std::vector<int32_t> last;
      int64_t end = 0;
      for (int64_t n : lengths) last.push_back(int32_t((end += n) - 1));
      x = take(x, Array(last, {int64_t(last.size())}), 1);  // [B, N, H]
      if (lengths.size() > 1) x = reshape(x, {int64_t(lengths.size()), 1, c.hidden});
    }
    Array normed = rms_norm(x, norm_, c.eps);
    return c.tie ? matmul(normed, transpose(embed_)) : lm_head_(normed);
  }

  // residual + the attention block's output for input h. Projections run over all the packed
  // tokens at once; rotary positions, the cache and the attention itself per sequence.
  Array attention(const DecoderLayer& l, const nn::LinearInput& h, const Array& residual, const std::vector<LayerCache*>& caches,
                  const std::vector<int64_t>& lengths, std::optional<int64_t> window,
                  const std::vector<bool>& padding, StepAt* step) const {
    const DecoderConfig& c = cfg_;
    std::vector<Array> projected = nn::fused_outputs(l.qkv, {&l.q, &l.k, &l.v}, h);
    Array q = projected[0], k = projected[1], v = projected[2];
    if (spec_.qk_norm == QKNorm::full) {
      q = rms_norm(q, *l.q_norm, c.eps);
      k = rms_norm(k, *l.k_norm, c.eps);
    }
    if (c.clip_qkv) {
      auto clip = [&](const Array& t) {
        return minimum(maximum(t, full({}, -*c.clip_qkv, t.dtype())), full({}, *c.clip_qkv, t.dtype()));
      };
      q = clip(q), k = clip(k), v = clip(v);
    }
    int64_t batch = h.x.shape(0);
    if (caches.size() == 1)
      return l.o.plus_residual(attend(l, q, k, v, *caches[0], batch, h.x.shape(1), window, padding, step), residual);
    std::vector<Array> contexts;
    int64_t at = 0;
    for (size_t s = 0; s < caches.size(); ++s) {
      int64_t n = lengths[s];
      contexts.push_back(attend(l, slice_axis(q, 1, at, at + n), slice_axis(k, 1, at, at + n),
                                slice_axis(v, 1, at, at + n), *caches[s], batch, n, window, padding));
      at += n;
    }
    return l.o.plus_residual(concatenate(contexts, 1), residual);
  }

  // One sequence's (or one equal-length batch's) attention: q/k/v [B,S,width] in, [B,S,heads*D] out.
  Array attend(const DecoderLayer& l, const Array& q_in, const Array& k_in, const Array& v_in, LayerCache& cache,
               int64_t batch, int64_t seq, std::optional<int64_t> window, const std::vector<bool>& padding,
               StepAt* at = nullptr) const {
    const DecoderConfig& c = cfg_;
    auto heads = [&](const Array& t, int64_t n, const std::optional<Array>& norm) {
      Array split = reshape(t, {batch, seq, n, c.head_dim});
      if (spec_.qk_norm == QKNorm::per_head && norm) split = rms_norm(split, *norm, c.eps);
      return swapaxes(split, 1, 2);  // [B, n, S, D]
    };
    float scale = 1.0f / std::sqrt(float(c.head_dim));
    if (at) {  // one token at a data position: the whole cache buffer, its filled slots masked in
      Array q = rotary_(heads(q_in, c.heads, l.q_norm), at->position);
      Array k = rotary_(heads(k_in, c.kv_heads, l.k_norm), at->position);
      CachedKeysValues kv = cache.update(k, heads(v_in, c.kv_heads, std::nullopt), at->position);
      // Every layer's cache has the same slots filled: one mask a step, not one a layer.
      if (!at->mask || at->mask->shape(3) != kv.keys.shape(2))
        at->mask = reshape(filled_slots(kv.keys.shape(2), at->position), {1, 1, 1, kv.keys.shape(2)});
      const Array& mask = *at->mask;
      Array ctx = scaled_dot_product_attention(q, kv.keys, kv.values, scale, mask, false);
      return reshape(swapaxes(ctx, 1, 2), {batch, seq, c.heads * c.head_dim});
    }
    int64_t offset = cache.offset();
    Array q = rotary_(heads(q_in, c.heads, l.q_norm), offset);
    Array k = rotary_(heads(k_in, c.kv_heads, l.k_norm), offset);
    CachedKeysValues kv = cache.update(k, heads(v_in, c.kv_heads, std::nullopt));
    AttentionMask m = attention_mask(kv.key_positions, offset, seq, batch, window, padding);
    Array ctx = scaled_dot_product_attention(q, kv.keys, kv.values, scale, m.mask, m.causal);
    return reshape(swapaxes(ctx, 1, 2), {batch, seq, c.heads * c.head_dim});
  }

  // Query at position p attends the key at position kp when kp <= p, p - kp < window, and the key
  // is not padding. Expressed as the attention op's causal flag when that says the same.
  static AttentionMask attention_mask(const std::vector<int64_t>& key_positions, int64_t offset, int64_t seq,
                                      int64_t batch, std::optional<int64_t> window, const std::vector<bool>& padding) {
    int64_t keys = int64_t(key_positions.size());
    // The common case without building anything: no padding, the window covers every key, and the
    // cache holds positions 0..keys-1 in order (a prefill or decode step on an unrotated cache).
    if (padding.empty() && (!window || *window >= offset + seq) && keys == offset + seq) {
      bool in_order = true;
      for (int64_t j = 0; j < keys && in_order; ++j) in_order = key_positions[size_t(j)] == j;
      if (in_order) return seq == 1 ? AttentionMask{} : AttentionMask{std::nullopt, true};
    }
    int64_t rows = padding.empty() ? 1 : batch;
    std::vector<bool> allowed(size_t(rows * seq * keys));
    bool all = true, causal = true;
    for (int64_t b = 0; b < rows; ++b)
      for (int64_t i = 0; i < seq; ++i)
        for (int64_t j = 0; j < keys; ++j) {
          int64_t p = offset + i, kp = key_positions[size_t(j)];
          bool ok = kp <= p && (!window || p - kp < *window) &&
                    (padding.empty() || !padding[size_t(b * seq + kp)]);
          allowed[size_t((b * seq + i) * keys + j)] = ok;
          all = all && ok;
          causal = causal && ok == (j <= i + keys - seq);
        }
    if (all) return {};
    if (causal) return {std::nullopt, true};
    return {Array(allowed, {rows, 1, seq, keys}), false};
  }

  DecoderSpec spec_;
  DecoderConfig cfg_;
  RotaryEmbedding rotary_;
  Array embed_, norm_;
  nn::Linear lm_head_;  // untied heads only; a tied head is the embedding table, read transposed
  std::vector<DecoderLayer> layers_;
};

}  // namespace

ArchitectureEntry decoder_architecture(const DecoderSpec& spec) {
  return {spec.architecture, "model.", [spec](const ModelConfig& c, Weights& w) -> std::unique_ptr<Model> {
            return std::make_unique<DecoderModel>(c, w, spec);
          }};
}

}  // namespace tessera
