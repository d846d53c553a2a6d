#pragma once
// A decoder-only language model: logits for new tokens given the KV cache of the ones before.
#include <optional>

#include "models/kv_cache.h"
#include "tessera/error.h"
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
  // One decode step with its position as data, so a captured step replays at every later
  // position (runtime/decode_graph.h): ids [B,1] at `position` (int32 [1], equal to
  // cache.offset() when the step runs). Returns [B,1,vocab]. Only where
  // supports_position_data(cache, steps) says the next `steps` steps can run this way.
  virtual bool supports_position_data(const KVCache& cache, int64_t steps) const {
    (void)cache, (void)steps;
    return false;
  }
  virtual Array forward_step(const Array& ids, KVCache& cache, const Array& position) {
    (void)ids, (void)cache, (void)position;
    fail("forward", architecture() + " takes no data positions");
  }
  virtual KVCache make_cache(const CacheOptions& options = {}) const = 0;
  virtual int64_t vocab_size() const = 0;
  // forward(ModelInputs) runs the whole sequence with a fresh cache: {"logits": [B,S,vocab]}.
  using Model::forward;
};

}  // namespace tessera
