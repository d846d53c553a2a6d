// The BERT family: BERT, RoBERTa and XLM-RoBERTa (one architecture; RoBERTa-style models differ
// in position ids, which start after padding_idx and skip padding) with their task heads.
#include "models/bert.h"

#include <algorithm>
#include <cmath>

#include "nn/layers.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

enum class Head { none, masked_lm, sequence_classification, token_classification, question_answering };

struct BertConfig {
  bool roberta_style;  // RoBERTa and XLM-R: position ids offset by padding_idx
  int64_t vocab, hidden, layers, heads, intermediate, max_positions, type_vocab, pad_id, labels;
  float eps;
  std::string act;

  explicit BertConfig(const ModelConfig& c, bool roberta)
      : roberta_style(roberta),
        vocab(c.get_positive_int("vocab_size")),
        hidden(c.get_positive_int("hidden_size")),
        layers(c.get_positive_int("num_hidden_layers")),
        heads(c.get_positive_int("num_attention_heads")),
        intermediate(c.get_positive_int("intermediate_size")),
        max_positions(c.get_positive_int("max_position_embeddings")),
        type_vocab(c.get_int("type_vocab_size", 2)),
        pad_id(c.get_int("pad_token_id", roberta ? 1 : 0)),
        labels(c.has("num_labels") ? c.get_int("num_labels")
                                   : int64_t(std::max<size_t>(c.object_size("id2label"), 2))),
        eps(float(c.get_float("layer_norm_eps", 1e-12))),
        act(c.get_string("hidden_act", "gelu")) {
    TESSERA_CHECK(hidden % heads == 0, "config",
                  c.source() + ": hidden_size " + std::to_string(hidden) +
                      " is not a multiple of num_attention_heads " + std::to_string(heads));
    std::string pos = c.get_string("position_embedding_type", "absolute");
    TESSERA_CHECK(pos == "absolute", "config",
                  c.source() + ": position_embedding_type \"" + pos + "\" is not supported");
    nn::check_activation(act);
  }
};

// With int8 compute (LoadOptions::int8_compute), the value and attention-output projections
// keep the exact quantized path: their activations' rounding passes straight into the residual
// stream (a query/key error is damped by the softmax, an FFN's by the next LayerNorm's scale).
// all-MiniLM-L6-v2, min cosine to float32 over 35 sentences: every projection in int8 0.99824;
// value exact 0.99895; value and output exact 0.99909; value in bfloat16 activations 0.99894
// (docs/benchmarks.md, "CPU speed").
void keep_exact(nn::Linear& l) {
  if (auto* q = std::get_if<QuantizedWeight>(&l.weight)) q->int8_compute = false;
}

struct EncoderLayer {
  nn::Linear query, key, value, attention_output, intermediate, output;
  nn::LayerNorm attention_norm, output_norm;
  std::optional<nn::Linear> qkv;  // query, key and value as one Linear (nn::fuse_linears)
};

class BertFamilyModel : public Model {
 public:
  BertFamilyModel(const ModelConfig& config, Weights& w, Head head, bool roberta)
      : cfg_(config, roberta), head_(head) {
    const BertConfig& c = cfg_;
    word_ = nn::Embedding::load(w, "embeddings.word_embeddings.weight", c.vocab, c.hidden);
    position_ = nn::Embedding::load(w, "embeddings.position_embeddings.weight", c.max_positions, c.hidden);
    if (c.type_vocab > 0)
      token_type_ = nn::Embedding::load(w, "embeddings.token_type_embeddings.weight", c.type_vocab, c.hidden);
    embedding_norm_ = nn::LayerNorm::load(w, "embeddings.LayerNorm", c.hidden, c.eps);
    for (int64_t i = 0; i < c.layers; ++i) {
      std::string p = "encoder.layer." + std::to_string(i) + ".";
      layers_.push_back({nn::Linear::load(w, p + "attention.self.query", c.hidden, c.hidden),
                         nn::Linear::load(w, p + "attention.self.key", c.hidden, c.hidden),
                         nn::Linear::load(w, p + "attention.self.value", c.hidden, c.hidden),
                         nn::Linear::load(w, p + "attention.output.dense", c.hidden, c.hidden),
                         nn::Linear::load(w, p + "intermediate.dense", c.hidden, c.intermediate),
                         nn::Linear::load(w, p + "output.dense", c.intermediate, c.hidden),
                         nn::LayerNorm::load(w, p + "attention.output.LayerNorm", c.hidden, c.eps),
                         nn::LayerNorm::load(w, p + "output.LayerNorm", c.hidden, c.eps)});
      keep_exact(layers_.back().value);
      keep_exact(layers_.back().attention_output);
      EncoderLayer& l = layers_.back();
      if (w.options().fuse_projections) l.qkv = nn::fuse_linears({&l.query, &l.key, &l.value});
    }
    load_head(w);
  }

  ModelOutputs forward(const ModelInputs& in) override {
    const BertConfig& c = cfg_;
    TESSERA_CHECK(in.input_ids.ndim() == 2, "forward",
                  "input_ids must be [batch, sequence], got " + to_string(in.input_ids.shape()));
    int64_t batch = in.input_ids.shape(0), seq = in.input_ids.shape(1);
    std::vector<int64_t> ids = ids_as_int64(in.input_ids, "input_ids");
    for (int64_t id : ids)
      TESSERA_CHECK(id >= 0 && id < c.vocab, "forward",
                    "input_ids contains " + std::to_string(id) + ", outside the vocabulary of " +
                        std::to_string(c.vocab));
    std::vector<int64_t> mask = in.attention_mask ? ids_as_int64(*in.attention_mask, "attention_mask")
                                                  : std::vector<int64_t>(ids.size(), 1);
    TESSERA_CHECK(!in.attention_mask || in.attention_mask->shape() == in.input_ids.shape(), "forward",
                  "attention_mask shape " + to_string(in.attention_mask->shape()) + " differs from input_ids");
    std::vector<int64_t> positions = position_ids(ids, batch, seq);
    for (int64_t p : positions)
      TESSERA_CHECK(p < c.max_positions, "forward",
                    "sequence of " + std::to_string(seq) + " tokens is longer than the model's " +
                        std::to_string(c.max_positions - (c.roberta_style ? c.pad_id + 1 : 0)) + " positions");

    TESSERA_CHECK(!in.token_type_ids || in.token_type_ids->shape() == in.input_ids.shape(), "forward",
                  "token_type_ids shape " + to_string(in.token_type_ids->shape()) + " differs from input_ids");
    std::vector<int64_t> types = in.token_type_ids ? ids_as_int64(*in.token_type_ids, "token_type_ids")
                                                   : std::vector<int64_t>(ids.size(), 0);
    for (int64_t t : types)
      TESSERA_CHECK(t >= 0 && (t < c.type_vocab || (c.type_vocab == 0 && t == 0)), "forward",
                    "token_type_ids contains " + std::to_string(t) + " but type_vocab_size is " +
                        std::to_string(c.type_vocab));

    bool packed = in.skip_padding && std::find(mask.begin(), mask.end(), 0) != mask.end();
    Array x = packed ? encode_packed(ids, positions, types, mask, batch, seq)
                     : encode_padded(ids, positions, types, mask, batch, seq);
    return run_head(x, batch);
  }

 private:
  Array embed(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
              const std::vector<int64_t>& types, const Shape& shape) const {
    std::vector<Array> tables = {word_.weight, position_.weight}, indices = {Array(ids, shape), Array(positions, shape)};
    if (token_type_) {
      tables.push_back(token_type_->weight);
      indices.push_back(Array(types, shape));
    }
    return embedding_layer_norm(tables, indices, embedding_norm_.weight, embedding_norm_.bias, embedding_norm_.eps);
  }

  // One encoder layer; `attend` maps q, k, v (each [tokens..., hidden]) to the context.
  template <typename Attend>
  Array encoder_layer(const EncoderLayer& l, const Array& x, Attend attend) const {
    std::vector<Array> qkv = nn::fused_outputs(l.qkv, {&l.query, &l.key, &l.value}, x);
    Array ctx = attend(qkv[0], qkv[1], qkv[2]);
    Array h = l.attention_norm(l.attention_output(ctx), x);
    return l.output_norm(l.output(l.intermediate(h, cfg_.act)), h);
  }

  float attention_scale() const { return 1.0f / std::sqrt(float(cfg_.hidden / cfg_.heads)); }

  // [B,S] with padding masked out of every query's keys.
  Array encode_padded(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
                      const std::vector<int64_t>& types, const std::vector<int64_t>& mask,
                      int64_t batch, int64_t seq) const {
    const BertConfig& c = cfg_;
    std::vector<bool> keep(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) keep[i] = mask[i] != 0;
    // All tokens real: no mask at all, so attention skips the per-score mask test.
    std::optional<Array> key_mask;
    if (std::find(keep.begin(), keep.end(), false) != keep.end()) key_mask = Array(keep, {batch, 1, 1, seq});
    int64_t head_dim = c.hidden / c.heads;
    auto split_heads = [&](const Array& t) { return swapaxes(reshape(t, {batch, seq, c.heads, head_dim}), 1, 2); };
    Array x = embed(ids, positions, types, {batch, seq});
    for (const EncoderLayer& l : layers_)
      x = encoder_layer(l, x, [&](const Array& q, const Array& k, const Array& v) {
        Array ctx = scaled_dot_product_attention(split_heads(q), split_heads(k), split_heads(v),
                                                 attention_scale(), key_mask);
        return reshape(swapaxes(ctx, 1, 2), {batch, seq, c.hidden});
      });
    return x;
  }

  // Only the real tokens, back to back ([T, hidden]), attending within their own row; the
  // result is scattered back to [B,S,hidden] with zero rows at padding.
  Array encode_packed(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
                      const std::vector<int64_t>& types, const std::vector<int64_t>& mask,
                      int64_t batch, int64_t seq) const {
    const BertConfig& c = cfg_;
    std::vector<int64_t> p_ids, p_pos, p_types, cu_seqlens = {0};
    std::vector<int64_t> unpack(ids.size());  // packed row of each [B,S] slot; T = zero row
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t s = 0; s < seq; ++s) {
        size_t i = size_t(b * seq + s);
        if (!mask[i]) continue;
        unpack[i] = int64_t(p_ids.size());
        p_ids.push_back(ids[i]);
        p_pos.push_back(positions[i]);
        p_types.push_back(types[i]);
      }
      cu_seqlens.push_back(int64_t(p_ids.size()));
    }
    int64_t tokens = int64_t(p_ids.size());
    for (size_t i = 0; i < ids.size(); ++i)
      if (!mask[i]) unpack[i] = tokens;
    int64_t head_dim = c.hidden / c.heads;
    auto split_heads = [&](const Array& t) { return reshape(t, {tokens, c.heads, head_dim}); };
    Array x = reshape(embed(p_ids, p_pos, p_types, {1, tokens}), {tokens, c.hidden});
    for (const EncoderLayer& l : layers_)
      x = encoder_layer(l, x, [&](const Array& q, const Array& k, const Array& v) {
        Array ctx = varlen_attention(split_heads(q), split_heads(k), split_heads(v), cu_seqlens, attention_scale());
        return reshape(ctx, {tokens, c.hidden});
      });
    Array with_zero_row = concatenate({x, zeros({1, c.hidden}, x.dtype())}, 0);
    return reshape(take(with_zero_row, Array(unpack, {batch * seq}), 0), {batch, seq, c.hidden});
  }

  static std::vector<int64_t> ids_as_int64(const Array& a, const char* what) {
    TESSERA_CHECK(a.dtype() == Dtype::int64 || a.dtype() == Dtype::int32, "forward",
                  std::string(what) + " must be int64 or int32, got " + std::string(name(a.dtype())));
    return a.dtype() == Dtype::int64 ? a.to_vector<int64_t>()
                                     : astype(a, Dtype::int64).to_vector<int64_t>();
  }

  // BERT: 0..S-1. RoBERTa: padding_idx+1 onwards, counting only real tokens; padding gets
  // padding_idx (as transformers' create_position_ids_from_input_ids).
  std::vector<int64_t> position_ids(const std::vector<int64_t>& ids, int64_t batch, int64_t seq) const {
    std::vector<int64_t> pos(ids.size());
    for (int64_t b = 0; b < batch; ++b) {
      int64_t count = 0;
      for (int64_t s = 0; s < seq; ++s) {
        size_t i = size_t(b * seq + s);
        if (!cfg_.roberta_style) {
          pos[i] = s;
        } else if (ids[i] == cfg_.pad_id) {
          pos[i] = cfg_.pad_id;
        } else {
          pos[i] = cfg_.pad_id + ++count;
        }
      }
    }
    return pos;
  }

  void load_head(Weights& w) {
    const BertConfig& c = cfg_;
    bool bert_pooled = !c.roberta_style && (head_ == Head::none || head_ == Head::sequence_classification);
    bool roberta_pooled = c.roberta_style && head_ == Head::none;
    if (bert_pooled || roberta_pooled) {
      // BertModel/RobertaModel checkpoints saved with add_pooling_layer=False lack the pooler.
      if (head_ != Head::none || w.contains("pooler.dense.weight"))
        pooler_ = nn::Linear::load(w, "pooler.dense", c.hidden, c.hidden);
    }
    switch (head_) {
      case Head::none: break;
      case Head::masked_lm: {
        std::string p = c.roberta_style ? "lm_head." : "cls.predictions.";
        std::string transform = c.roberta_style ? "lm_head.dense" : "cls.predictions.transform.dense";
        std::string norm = c.roberta_style ? "lm_head.layer_norm" : "cls.predictions.transform.LayerNorm";
        mlm_dense_ = nn::Linear::load(w, transform, c.hidden, c.hidden);
        mlm_norm_ = nn::LayerNorm::load(w, norm, c.hidden, c.eps);
        // The decoder is tied to the word embeddings; checkpoints usually omit it.
        auto decoder = w.find(p + "decoder.weight", {c.vocab, c.hidden});
        // transformers 5 uses decoder.bias; older checkpoints store only the (then tied) bias.
        Array bias = w.contains(p + "decoder.bias") ? w.get(p + "decoder.bias", {c.vocab}) : w.get(p + "bias", {c.vocab});
        mlm_decoder_ = nn::Linear{decoder ? *decoder : word_.weight, bias, p + "decoder"};
        break;
      }
      case Head::sequence_classification:
        if (c.roberta_style) {
          classifier_dense_ = nn::Linear::load(w, "classifier.dense", c.hidden, c.hidden);
          classifier_ = nn::Linear::load(w, "classifier.out_proj", c.hidden, c.labels);
        } else {
          classifier_ = nn::Linear::load(w, "classifier", c.hidden, c.labels);
        }
        break;
      case Head::token_classification:
        classifier_ = nn::Linear::load(w, "classifier", c.hidden, c.labels);
        break;
      case Head::question_answering:
        classifier_ = nn::Linear::load(w, "qa_outputs", c.hidden, 2);
        break;
    }
  }

  ModelOutputs run_head(const Array& x, int64_t batch) const {
    const BertConfig& c = cfg_;
    auto first_token = [&]() { return reshape(slice_axis(x, 1, 0, 1), {batch, c.hidden}); };
    switch (head_) {
      case Head::none: {
        ModelOutputs out{{"last_hidden_state", x}};
        if (pooler_) out["pooler_output"] = tanh((*pooler_)(first_token()));
        return out;
      }
      case Head::masked_lm: {
        // BERT's transform uses hidden_act; RoBERTa's LM head always uses exact GELU.
        Array h = (*mlm_dense_)(x);
        h = c.roberta_style ? gelu(h) : nn::activation(c.act, h);
        return {{"logits", (*mlm_decoder_)((*mlm_norm_)(h))}};
      }
      case Head::sequence_classification: {
        Array h = c.roberta_style ? tanh((*classifier_dense_)(first_token()))
                                  : tanh((*pooler_)(first_token()));
        return {{"logits", (*classifier_)(h)}};
      }
      case Head::token_classification:
        return {{"logits", (*classifier_)(x)}};
      case Head::question_answering: {
        std::vector<Array> se = split((*classifier_)(x), 2, -1);
        return {{"start_logits", squeeze(se[0], -1)}, {"end_logits", squeeze(se[1], -1)}};
      }
    }
    return {};
  }

  BertConfig cfg_;
  Head head_;
  nn::Embedding word_, position_;
  std::optional<nn::Embedding> token_type_;
  nn::LayerNorm embedding_norm_;
  std::vector<EncoderLayer> layers_;
  std::optional<nn::Linear> pooler_, mlm_dense_, mlm_decoder_, classifier_dense_, classifier_;
  std::optional<nn::LayerNorm> mlm_norm_;
};

}  // namespace

std::vector<ArchitectureEntry> bert_family_architectures() {
  std::vector<ArchitectureEntry> entries;
  struct Family {
    const char* prefix;
    const char* base;  // checkpoint prefix of the base model
    bool roberta;
  };
  const Family families[] = {{"Bert", "bert.", false}, {"Roberta", "roberta.", true}, {"XLMRoberta", "roberta.", true}};
  const std::pair<const char*, Head> heads[] = {{"Model", Head::none},
                                                {"ForMaskedLM", Head::masked_lm},
                                                {"ForSequenceClassification", Head::sequence_classification},
                                                {"ForTokenClassification", Head::token_classification},
                                                {"ForQuestionAnswering", Head::question_answering}};
  for (const Family& f : families)
    for (const auto& [suffix, head] : heads) {
      Head h = head;
      bool roberta = f.roberta;
      entries.push_back({std::string(f.prefix) + suffix, f.base,
                         [h, roberta](const ModelConfig& c, Weights& w) -> std::unique_ptr<Model> {
                           return std::make_unique<BertFamilyModel>(c, w, h, roberta);
                         }});
    }
  return entries;
}

}  // namespace tessera
