#include "nn/sparse_moe.h"

namespace tessera::nn {

Array SparseMoE::operator()(const Array& x) const {
  Shape shape = x.shape();
  int64_t hidden = shape.back();
  Array tokens = reshape(x, {-1, hidden});
  int64_t n = tokens.shape(0), k = top_k;

  // Router probabilities in float32, as transformers computes them.
  Array probs = softmax(astype(router(tokens), Dtype::float32), -1);
  auto [weights, chosen] = topk(probs, top_k, -1);
  if (normalize_top_k) weights = divide(weights, sum(weights, {-1}, true));
  std::vector<int32_t> expert_of = chosen.to_vector<int32_t>();  // [n * k], (token, rank) order

  // Assignments (token * k + rank) grouped by expert; `position` inverts the grouping.
  std::vector<std::vector<int32_t>> assigned(experts.size());
  for (size_t a = 0; a < expert_of.size(); ++a) assigned[size_t(expert_of[a])].push_back(int32_t(a));
  std::vector<int32_t> grouped, position(expert_of.size());
  std::vector<Array> outputs;
  for (size_t e = 0; e < experts.size(); ++e) {
    if (assigned[e].empty()) continue;
    std::vector<int32_t> rows;
    for (int32_t a : assigned[e]) {
      position[size_t(a)] = int32_t(grouped.size());
      grouped.push_back(a);
      rows.push_back(a / int32_t(k));
    }
    outputs.push_back(experts[e](take(tokens, Array(rows, {int64_t(rows.size())}), 0)));
  }
  Array grouped_weights = take(reshape(weights, {n * k}), Array(grouped, {n * k}), 0);
  Array weighted = multiply(concatenate(outputs, 0), expand_dims(astype(grouped_weights, x.dtype()), 1));
  Array out = sum(reshape(take(weighted, Array(position, {n * k}), 0), {n, k, hidden}), {1});

  if (shared_expert) {
    Array gate = sigmoid((*shared_expert_gate)(tokens));
    out = add(out, multiply(gate, (*shared_expert)(tokens)));
  }
  return reshape(out, shape);
}

}  // namespace tessera::nn
