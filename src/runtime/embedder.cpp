#include "runtime/embedder.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/config.h"
#include "tessera/checkpoint.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

std::optional<nlohmann::json> read_json_if_present(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("embed", path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

Pooling pooling_from_config(const nlohmann::json& c, const std::string& source) {
  auto on = [&](const char* key) { return c.contains(key) && c[key].is_boolean() && c[key].get<bool>(); };
  if (on("pooling_mode_cls_token")) return Pooling::cls;
  if (on("pooling_mode_mean_tokens")) return Pooling::mean;
  if (on("pooling_mode_max_tokens")) return Pooling::max;
  if (on("pooling_mode_mean_sqrt_len_tokens")) return Pooling::mean_sqrt_len;
  if (on("pooling_mode_lasttoken")) return Pooling::last_token;
  fail("embed", source + ": no supported pooling mode is enabled (cls, mean, max, mean_sqrt_len, lasttoken)");
}

constexpr size_t kBatchSize = 32;

}  // namespace

EmbedderConfig read_embedder_config(const std::string& model_dir, int64_t model_max_positions) {
  namespace fs = std::filesystem;
  EmbedderConfig config;
  config.max_seq_length = size_t(model_max_positions);
  fs::path dir(model_dir);
  auto modules = read_json_if_present(dir / "modules.json");
  if (modules) {
    if (!modules->is_array()) fail("embed", (dir / "modules.json").string() + ": expected a list");
    bool pooled = false;
    for (const auto& m : *modules) {
      std::string type = m.value("type", "");
      std::string path = m.value("path", "");
      if (type.find("Pooling") != std::string::npos) {
        fs::path p = dir / path / "config.json";
        auto pc = read_json_if_present(p);
        if (!pc) fail("embed", p.string() + ": missing pooling config");
        config.pooling = pooling_from_config(*pc, p.string());
        pooled = true;
      } else if (type.find("Normalize") != std::string::npos) {
        config.normalize = true;
      } else if (type.find("Transformer") == std::string::npos) {
        fail("embed", (dir / "modules.json").string() + ": unsupported module " + type);
      }
    }
    if (!pooled) config.pooling = Pooling::mean;
  }
  if (auto sb = read_json_if_present(dir / "sentence_bert_config.json"); sb && sb->contains("max_seq_length"))
    config.max_seq_length = std::min(config.max_seq_length, (*sb)["max_seq_length"].get<size_t>());
  return config;
}

Embedder::Embedder(const std::string& model, const LoadOptions& options) {
  std::string dir = resolve_model_dir(model);
  model_ = load_model(dir, options);
  ModelConfig mc = ModelConfig::load(dir);
  pad_id_ = mc.get_int("pad_token_id", 0);
  // RoBERTa-style models reserve padding_idx + 1 positions before the first token.
  int64_t positions = mc.get_int("max_position_embeddings", 512);
  std::string type = mc.get_string("model_type", "bert");
  if (type == "roberta" || type == "xlm-roberta" || type == "camembert") positions -= pad_id_ + 1;
  config_ = read_embedder_config(dir, positions);
  if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_file(dir));
    tokenizer_->set_padding(std::nullopt);
    TruncationParams t;
    t.max_length = config_.max_seq_length;
    tokenizer_->set_truncation(t);
  }
}

std::vector<std::vector<float>> Embedder::embed_texts(const std::vector<std::string>& texts) const {
  TESSERA_CHECK(tokenizer_ != nullptr, "embed", "the model directory has no tokenizer.json");
  std::vector<std::vector<int64_t>> ids;
  for (const std::string& t : texts) {
    Encoding e = tokenizer_->encode(t);
    ids.emplace_back(e.ids.begin(), e.ids.end());
  }
  return embed_ids(ids);
}

std::vector<std::vector<float>> Embedder::embed_ids(const std::vector<std::vector<int64_t>>& all_ids) const {
  std::vector<std::vector<float>> result;
  for (size_t start = 0; start < all_ids.size(); start += kBatchSize) {
    size_t count = std::min(kBatchSize, all_ids.size() - start);
    size_t seq = 1;
    for (size_t i = 0; i < count; ++i) {
      const auto& row = all_ids[start + i];
      TESSERA_CHECK(!row.empty(), "embed", "input " + std::to_string(start + i) + " has no tokens");
      TESSERA_CHECK(row.size() <= config_.max_seq_length, "embed",
                    "input " + std::to_string(start + i) + " has " + std::to_string(row.size()) +
                        " tokens, more than max_seq_length " + std::to_string(config_.max_seq_length));
      seq = std::max(seq, row.size());
    }
    int64_t b = int64_t(count), s = int64_t(seq);
    std::vector<int64_t> ids(count * seq, pad_id_), mask(count * seq, 0);
    std::vector<float> lengths(count);
    std::vector<int32_t> last(count);
    for (size_t i = 0; i < count; ++i) {
      const auto& row = all_ids[start + i];
      std::copy(row.begin(), row.end(), ids.begin() + int64_t(i * seq));
      std::fill_n(mask.begin() + int64_t(i * seq), row.size(), 1);
      lengths[i] = float(row.size());
      last[i] = int32_t(row.size() - 1);
    }
    ModelInputs in{Array(ids, {b, s}), Array(mask, {b, s}), std::nullopt};
    in.skip_padding = true;  // pooling reads real tokens only, so padding need not be computed
    Array hidden = astype(model_->forward(in).at("last_hidden_state"), Dtype::float32);
    Array m = astype(reshape(Array(mask, {b, s}), {b, s, 1}), Dtype::float32);
    Array len = Array(lengths, {b, 1});
    Array pooled;
    switch (config_.pooling) {
      case Pooling::cls: pooled = squeeze(slice_axis(hidden, 1, 0, 1), 1); break;
      case Pooling::mean: pooled = divide(sum(multiply(hidden, m), {1}), len); break;
      case Pooling::mean_sqrt_len: pooled = divide(sum(multiply(hidden, m), {1}), sqrt(len)); break;
      case Pooling::max:  // padding set to -1e9 first, as sentence-transformers does
        pooled = max(where(greater(m, zeros({1})), hidden, full({1}, -1e9)), {1});
        break;
      case Pooling::last_token:
        pooled = squeeze(take_along_axis(hidden, Array(last, {b, 1, 1}), 1), 1);
        break;
    }
    if (config_.normalize) {  // x / max(||x||, 1e-12), as torch.nn.functional.normalize
      Array norm = sqrt(sum(square(pooled), {1}, true));
      pooled = divide(pooled, maximum(norm, full({1}, 1e-12)));
    }
    std::vector<float> flat = contiguous(to_device(pooled, Device::cpu())).to_vector<float>();
    int64_t dim = pooled.shape(1);
    for (int64_t i = 0; i < b; ++i) result.emplace_back(flat.begin() + i * dim, flat.begin() + (i + 1) * dim);
  }
  return result;
}

}  // namespace tessera
