#pragma once
// A decoder-only language model: logits for new tokens given the KV cache of the ones before.
#include <optional>

#include "models/kv_cache.h"
#include "tessera/model.h"

namespace tessera {

struct CacheOptions {
  // Keep at most this many tokens per layer (rotating); sliding-window layers keep their window
  // whatever this says.
  std::optional<int64_t> max_size;
  KVQuantization quantization;  // keys and values stored quantized (bits 0: not)
};

class CausalLM : public Model {
 public:
  // ids [B,S] are the tokens at positions cache.offset()..+S-1; their keys/values are appended to
  // `cache`. Returns logits [B,S,vocab], or [B,1,vocab] for the last token only when last_only.
  virtual Array forward(const Array& ids, KVCache& cache, bool last_only = false) = 0;
  // Several sequences in one pass without padding: ids[i] [1,S_i] are the next tokens of sequence
  // i, whose past is caches[i]. Their tokens run packed through every projection and MLP; only
  // attention is per sequence. Returns each sequence's last-token logits, [N,1,vocab].
  virtual Array forward_packed(const std::vector<Array>& ids, const std::vector<KVCache*>& caches) = 0;
  virtual KVCache make_cache(const CacheOptions& options = {}) const = 0;
  virtual int64_t vocab_size() const = 0;
  // forward(ModelInputs) runs the whole sequence with a fresh cache: {"logits": [B,S,vocab]}.
  using Model::forward;
};

}  // namespace tessera
