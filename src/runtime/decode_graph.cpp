#include "runtime/decode_graph.h"

#include "tessera/ops.h"
#ifdef TESSERA_HAS_CUDA
#include "tessera/cuda.h"
#endif

namespace tessera {

DecodeGraph::DecodeGraph(CausalLM& model, KVCache& cache, int64_t steps)
    : model_(model), cache_(cache), steps_left_(steps) {
  // Room for every planned step now, so the buffers the graph writes are never reallocated.
  if (graphable() && cache_.capacity() > 0) cache_.reserve(cache_.offset() + steps);
}

DecodeGraph::~DecodeGraph() = default;

bool DecodeGraph::graphable() const {
#ifdef TESSERA_HAS_CUDA
  return default_device().type == DeviceType::cuda && model_.supports_position_data(cache_, 1);
#else
  return false;
#endif
}

Array DecodeGraph::step(const Array& ids) {
  steps_left_ = std::max<int64_t>(steps_left_ - 1, 0);
#ifdef TESSERA_HAS_CUDA
  if (graphable()) {
    Array position(std::vector<int32_t>{int32_t(cache_.offset())}, {1});
    if (!warmed_up_) {
      warmed_up_ = true;
      return model_.forward_step(ids, cache_, position);
    }
    bool fits = cache_.offset() + 1 <= captured_capacity_ && ids.shape() == captured_ids_shape_;
    if (graph_ && fits) {
      if (ids.evaluated() && ids.buffer()->on_host())  // device ids come from the model's own argmax
        for (int64_t id : astype(ids, Dtype::int64).to_vector<int64_t>())
          TESSERA_CHECK(id >= 0 && id < model_.vocab_size(), "generate",
                        "token id " + std::to_string(id) + " outside the vocabulary");
      Array logits = graph_->replay({ids, position})[0];
      cache_.advance(1);
      return logits;
    }
    // (Re)capture: with room for the remaining planned steps (reserve never shrinks), the graph's
    // inputs as stand-ins (whole materialised buffers; the replay copies this step's values in),
    // then run it once.
    graph_.reset();
    cache_.reserve(cache_.offset() + 1 + steps_left_);
    Array ids_in = zeros(ids.shape(), ids.dtype() == Dtype::int32 ? Dtype::int32 : Dtype::int64);
    Array position_in(std::vector<int32_t>{int32_t(cache_.offset())}, {1});
    eval(ids_in);
    Array logits = model_.forward_step(ids_in, cache_, position_in);  // advances the cache's offset
    graph_ = std::make_shared<cuda::CapturedEvaluation>(std::vector<Array>{ids_in, position_in},
                                                       std::vector<Array>{logits});
    captured_capacity_ = cache_.capacity();
    captured_ids_shape_ = ids.shape();
    return graph_->replay({ids, position})[0];
  }
#endif
  return model_.forward(ids, cache_, true);
}

}  // namespace tessera
