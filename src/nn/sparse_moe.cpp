#include "nn/sparse_moe.h"

#include <cstdlib>
#include <cstring>

#include "nn/linear_input_observer.h"

namespace tessera::nn {

namespace {

std::optional<MoEPath>& path_override() {
  static std::optional<MoEPath> path;
  return path;
}

MoEPath path_from_environment() {
  const char* v = std::getenv("TESSERA_MOE_PATH");
  if (!v || !*v || std::strcmp(v, "auto") == 0) return MoEPath::automatic;
  if (std::strcmp(v, "gathered") == 0) return MoEPath::gathered;
  if (std::strcmp(v, "grouped") == 0) return MoEPath::grouped;
  fail("TESSERA_MOE_PATH", std::string("must be auto, gathered or grouped, got \"") + v + "\"");
}

// The parts' weights (for every expert: its parts, e.g. gate then up) stacked [E, rows, ...]
// when they are all dense in one dtype or all packed in one format, without biases; each part
// then becomes a view of its rows of the stack. nullopt (nothing changed) otherwise.
std::optional<SparseMoE::Stack> stack_parts(const std::vector<std::vector<Linear*>>& experts) {
  const Linear& first = *experts.front().front();
  const auto* q0 = std::get_if<QuantizedWeight>(&first.weight);
  std::vector<Array> weights, scales, biases;
  for (const auto& parts : experts)
    for (const Linear* l : parts) {
      if (l->bias) return std::nullopt;
      if (const auto* q = std::get_if<QuantizedWeight>(&l->weight)) {
        if (!q0 || q->spec.bits != q0->spec.bits || q->spec.group_size != q0->spec.group_size ||
            q->packed.shape(1) != q0->packed.shape(1) || q->scales.dtype() != q0->scales.dtype())
          return std::nullopt;
        weights.push_back(q->packed);
        scales.push_back(q->scales);
        biases.push_back(q->biases);
      } else {
        const Array& w = std::get<Array>(l->weight);
        const Array* w0 = std::get_if<Array>(&first.weight);
        if (!w0 || w.dtype() != w0->dtype() || w.shape(1) != w0->shape(1)) return std::nullopt;
        weights.push_back(w);
      }
    }
  const int64_t count = int64_t(experts.size());
  auto stack = [&](const std::vector<Array>& arrays) {
    Array flat = concatenate(arrays, 0);
    return reshape(flat, {count, flat.shape(0) / count, flat.shape(1)});
  };
  std::vector<Array> stacks = {stack(weights)};
  if (q0) {
    stacks.push_back(stack(scales));
    stacks.push_back(stack(biases));
  }
  eval(stacks);
  // Views: expert e's rows of each stack, then each part's rows of those.
  std::vector<Array> views;
  for (int64_t e = 0; e < count; ++e) {
    int64_t row = 0;
    for (Linear* l : experts[size_t(e)]) {
      const int64_t rows = q0 ? std::get<QuantizedWeight>(l->weight).packed.shape(0) : std::get<Array>(l->weight).shape(0);
      std::vector<Array> part;
      for (const Array& s : stacks) {
        part.push_back(slice_axis(squeeze(slice_axis(s, 0, e, e + 1), 0), 0, row, row + rows));
        views.push_back(part.back());
      }
      if (q0) {
        QuantizedWeight& q = std::get<QuantizedWeight>(l->weight);
        q.packed = part[0];
        q.scales = part[1];
        q.biases = part[2];
      } else {
        l->weight = part[0];
      }
      row += rows;
    }
  }
  eval(views);
  if (!q0) return stacks[0];
  return QuantizedWeight{stacks[0], stacks[1], stacks[2], q0->spec, q0->int8_compute};
}

Array gather(const SparseMoE::Stack& w, const Array& x, const Array& indices, Activation glu = Activation::none,
             const std::optional<Array>& row_weights = std::nullopt) {
  if (const auto* q = std::get_if<QuantizedWeight>(&w))
    return gather_quantized_matmul(x, q->packed, q->scales, q->biases, indices, q->spec.group_size, q->spec.bits, glu,
                                   row_weights);
  return gather_matmul(x, std::get<Array>(w), indices, glu, row_weights);
}

}  // namespace

MoEPath moe_path() {
  static const MoEPath from_environment = path_from_environment();
  return path_override().value_or(from_environment);
}

void set_moe_path(MoEPath path) { path_override() = path; }

void SparseMoE::stack_experts() {
  if (stack_tried_) return;
  stack_tried_ = true;
  if (experts.empty()) return;
  std::vector<std::vector<Linear*>> gate_up, down;
  for (GatedMLP& e : experts) {
    if (e.act != experts.front().act) return;
    gate_up.push_back({&e.gate, &e.up});
    down.push_back({&e.down});
  }
  const Linear& gate = experts.front().gate;
  const int64_t intermediate = std::holds_alternative<Array>(gate.weight)
                                   ? std::get<Array>(gate.weight).shape(0)
                                   : std::get<QuantizedWeight>(gate.weight).packed.shape(0);
  for (const GatedMLP& e : experts) {
    const auto rows = [](const Linear& l) {
      return std::holds_alternative<Array>(l.weight) ? std::get<Array>(l.weight).shape(0)
                                                     : std::get<QuantizedWeight>(l.weight).packed.shape(0);
    };
    if (rows(e.gate) != intermediate || rows(e.up) != intermediate) return;
  }
  // Stack down first: if gate/up cannot be stacked, nothing is left half done that matters
  // (down's views are equivalent to its own weights).
  std::optional<Stack> down_stack = stack_parts(down);
  if (!down_stack) return;
  std::optional<Stack> gate_up_stack = stack_parts(gate_up);
  if (!gate_up_stack) return;
  // The fused gate/up Linear (fuse_linears) becomes a view of the stack as well.
  if (const auto* dense = std::get_if<Array>(&*gate_up_stack))
    for (size_t e = 0; e < experts.size(); ++e)
      if (experts[e].gate_up) {
        experts[e].gate_up->weight = squeeze(slice_axis(*dense, 0, int64_t(e), int64_t(e) + 1), 0);
        eval(std::get<Array>(experts[e].gate_up->weight));
      }
  stacked = Stacked{*gate_up_stack, *down_stack, intermediate};
}

bool SparseMoE::stays_on_device(int64_t tokens) const {
  if (!stack_tried_) const_cast<SparseMoE*>(this)->stack_experts();
  const MoEPath path = moe_path();
  return stacked && !current_linear_input_observer() &&
         (path == MoEPath::gathered || (path == MoEPath::automatic && tokens * top_k <= kGatheredMaxAssignments));
}

Array SparseMoE::operator()(const Array& x) const {
  if (!stack_tried_) const_cast<SparseMoE*>(this)->stack_experts();
  Shape shape = x.shape();
  int64_t hidden = shape.back();
  Array tokens = reshape(x, {-1, hidden});
  int64_t n = tokens.shape(0), k = top_k;

  // Router probabilities in float32, as transformers computes them.
  Array probs = softmax(astype(router(tokens), Dtype::float32), -1);
  auto [weights, chosen] = topk(probs, top_k, -1);
  if (normalize_top_k) weights = divide(weights, sum(weights, {-1}, true));

  Array out;
  if (stays_on_device(n)) {
    // Every (token, rank) row against its expert, on the device: act(gate) * up [n, k, inter]
    // in one kernel, then down with the router-weighted sum over the ranks [n, hidden] in another.
    const std::string& act = experts.front().act;
    Array h;
    if (std::optional<Activation> fused = fusable_activation(act)) {
      h = gather(stacked->gate_up, tokens, chosen, *fused);
    } else {
      const int64_t inter = stacked->intermediate;
      Array gate_up = gather(stacked->gate_up, tokens, chosen);
      h = multiply(activation(act, slice_axis(gate_up, -1, 0, inter)), slice_axis(gate_up, -1, inter, 2 * inter));
    }
    out = gather(stacked->down, h, chosen, Activation::none, weights);
  } else {
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
    out = sum(reshape(take(weighted, Array(position, {n * k}), 0), {n, k, hidden}), {1});
  }

  if (shared_expert) {
    Array gate = sigmoid((*shared_expert_gate)(tokens));
    out = add(out, multiply(gate, (*shared_expert)(tokens)));
  }
  return reshape(out, shape);
}

}  // namespace tessera::nn
