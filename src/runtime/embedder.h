#pragma once
// Sentence embeddings the way sentence-transformers computes them: the model's token states,
// pooled as 1_Pooling/config.json says (cls, mean, max, mean_sqrt_len, lasttoken), then
// L2-normalised when modules.json has a Normalize module (or when asked).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/model.h"
#include "tessera/tokenizer.h"

namespace tessera {

enum class Pooling { cls, mean, max, mean_sqrt_len, last_token };

struct EmbedderConfig {
  Pooling pooling = Pooling::mean;
  bool normalize = false;      // a Normalize module follows pooling
  size_t max_seq_length = 512;  // sentence_bert_config.json, else the model's positions
};

// Reads modules.json, 1_Pooling/config.json and sentence_bert_config.json when present;
// a plain transformers directory gets mean pooling.
EmbedderConfig read_embedder_config(const std::string& model_dir, int64_t model_max_positions);

class Embedder {
 public:
  Embedder(const std::string& model, const LoadOptions& options);
  // Token ids per text (unpadded); batched, padded and masked here.
  std::vector<std::vector<float>> embed_ids(const std::vector<std::vector<int64_t>>& ids) const;
  std::vector<std::vector<float>> embed_texts(const std::vector<std::string>& texts) const;
  const EmbedderConfig& config() const { return config_; }
  void force_normalize() { config_.normalize = true; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  EmbedderConfig config_;
  int64_t pad_id_ = 0;
};

}  // namespace tessera
