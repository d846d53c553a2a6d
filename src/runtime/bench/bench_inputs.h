#pragma once
// The inputs of a benchmark case: real text through the model's own tokenizer.json when the
// directory has one (else uniform random ids from a fixed seed), optionally with a fraction of
// each row turned into padding. The same ids go to tessera and, through a safetensors file, to
// every peer.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/model.h"
#include "tessera/tokenizer.h"

namespace tessera::bench {

struct BenchInputs {
  int64_t batch = 0, seq = 0;
  std::vector<int64_t> input_ids;       // [batch, seq], row-major
  std::vector<int64_t> attention_mask;  // 1 = real token, 0 = padding

  ModelInputs to_model_inputs(Device device) const;
  // input_ids and attention_mask as int64 tensors, the names transformers uses.
  void save(const std::string& path) const;
};

class InputGenerator {
 public:
  InputGenerator(const std::string& model_dir, uint64_t seed);
  // `padding` in [0, 1): the last floor(padding * seq) positions of every row are padding
  // (at least one real token stays).
  BenchInputs make(int64_t batch, int64_t seq, double padding) const;
  // "text" (tokenized by tessera) or "random ids".
  std::string source() const { return tokenizer_ ? "text" : "random ids"; }

 private:
  std::vector<int64_t> real_row(int64_t row, int64_t length) const;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int64_t> passage_ids_;   // the text, no special tokens
  std::vector<int64_t> prefix_ids_, suffix_ids_;  // the special tokens around one sequence
  int64_t vocab_size_ = 0, pad_id_ = 0;
  uint64_t seed_ = 0;
};

}  // namespace tessera::bench
