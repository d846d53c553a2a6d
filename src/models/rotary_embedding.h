#pragma once
// Rotary position embedding as a decoder's config.json describes it: rope_theta and the scaling
// types "default", "linear" (positions / factor), "dynamic" (NTK base growth beyond the trained
// length) and "llama3" (Llama 3.1's per-frequency smoothing). Read from transformers 5's
// rope_parameters or the older rope_theta + rope_scaling.
#include <optional>
#include <string>

#include "models/config.h"
#include "tessera/ops.h"

namespace tessera {

class RotaryEmbedding {
 public:
  RotaryEmbedding(const ModelConfig& config, int64_t head_dim);
  // x [B,H,S,D] holds the tokens at positions offset..offset+S-1.
  Array operator()(const Array& x, int64_t offset) const;
  // The same with the first position as data (int32 [1]); not for "dynamic" scaling, whose
  // frequencies depend on the sequence length.
  Array operator()(const Array& x, const Array& position) const;
  bool position_as_data() const { return type_ != "dynamic"; }

 private:
  std::optional<Array> dynamic_freqs(int64_t sequence_length) const;
  int dims_;
  std::string type_;
  float base_, scale_ = 1.0f, factor_ = 1.0f;
  int64_t trained_positions_ = 0;  // dynamic: original max_position_embeddings
  std::optional<Array> freqs_;     // inverse frequencies (all but "dynamic")
};

}  // namespace tessera
