#include "runtime/bench/bench_inputs.h"

#include <filesystem>
#include <random>

#include "models/config.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera::bench {

namespace {

// Ordinary prose for the tokenizer: rows are windows over it, so batches see varied words.
constexpr const char* kPassage =
    "The committee met on a grey Tuesday morning to decide how the old railway station should be "
    "used. Some members wanted a library with long reading tables under the iron roof; others "
    "argued for a market where farmers from the valley could sell cheese, apples and bread. A "
    "retired engineer explained that the foundations had been laid in 1887 and would carry far more "
    "weight than anyone planned to put on them. The discussion went on past noon, when the chair "
    "suggested that both ideas could share the building: books along the platforms, stalls in the "
    "ticket hall. Children from the nearby school had drawn pictures of trains, clocks and "
    "pigeons, and these were pinned to the walls while the votes were counted. In the end the "
    "proposal passed by nine votes to four, and the first stalls opened in the spring.";

}  // namespace

ModelInputs BenchInputs::to_model_inputs(Device device) const {
  return {to_device(Array(input_ids, {batch, seq}), device), to_device(Array(attention_mask, {batch, seq}), device),
          std::nullopt};
}

void BenchInputs::save(const std::string& path) const {
  save_safetensors(path, {{"input_ids", Array(input_ids, {batch, seq})},
                          {"attention_mask", Array(attention_mask, {batch, seq})}});
}

InputGenerator::InputGenerator(const std::string& model_dir, uint64_t seed) : seed_(seed) {
  ModelConfig config = ModelConfig::load(model_dir);
  vocab_size_ = config.get_int("vocab_size");
  pad_id_ = config.get_int("pad_token_id", 0);
  if (!std::filesystem::exists(std::filesystem::path(model_dir) / "tokenizer.json")) return;
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_file(model_dir));
  tokenizer_->set_padding(std::nullopt);
  tokenizer_->set_truncation(std::nullopt);
  for (uint32_t id : tokenizer_->encode(kPassage, std::nullopt, false).ids) passage_ids_.push_back(id);
  // The specials of an empty text: the first opens a sequence, the rest close it.
  std::vector<uint32_t> specials = tokenizer_->encode("").ids;
  if (!specials.empty()) {
    prefix_ids_.push_back(specials.front());
    suffix_ids_.assign(specials.begin() + 1, specials.end());
  }
}

std::vector<int64_t> InputGenerator::real_row(int64_t row, int64_t length) const {
  std::vector<int64_t> ids;
  if (!tokenizer_) {
    // Ids below 5 hold the special tokens of all three families; the pad id must not appear.
    std::mt19937_64 rng(seed_ * 1000003 + uint64_t(row));
    std::uniform_int_distribution<int64_t> pick(std::min<int64_t>(5, vocab_size_ - 1), vocab_size_ - 1);
    while (int64_t(ids.size()) < length)
      if (int64_t id = pick(rng); id != pad_id_) ids.push_back(id);
    return ids;
  }
  // Too short for the special tokens: text only.
  bool framed = length > int64_t(prefix_ids_.size() + suffix_ids_.size());
  if (framed) ids = prefix_ids_;
  int64_t text_end = framed ? length - int64_t(suffix_ids_.size()) : length;
  size_t start = size_t(row * 37) % passage_ids_.size();  // a different window per row
  for (size_t i = 0; int64_t(ids.size()) < text_end; ++i)
    ids.push_back(passage_ids_[(start + i) % passage_ids_.size()]);
  if (framed) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

BenchInputs InputGenerator::make(int64_t batch, int64_t seq, double padding) const {
  BenchInputs in{batch, seq, {}, {}};
  int64_t real = std::max<int64_t>(1, seq - int64_t(padding * double(seq)));
  for (int64_t r = 0; r < batch; ++r) {
    std::vector<int64_t> row = real_row(r, real);
    in.input_ids.insert(in.input_ids.end(), row.begin(), row.end());
    in.input_ids.insert(in.input_ids.end(), size_t(seq - real), pad_id_);
    in.attention_mask.insert(in.attention_mask.end(), size_t(real), 1);
    in.attention_mask.insert(in.attention_mask.end(), size_t(seq - real), 0);
  }
  return in;
}

}  // namespace tessera::bench
