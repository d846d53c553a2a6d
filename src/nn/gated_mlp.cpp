#include "nn/gated_mlp.h"

#include "nn/linear_input_observer.h"

namespace tessera::nn {

GatedMLP GatedMLP::load(Weights& w, const std::string& prefix, const Names& names, int64_t hidden,
                        int64_t intermediate, const std::string& act) {
  check_activation(act);
  GatedMLP m{Linear::load(w, prefix + names.gate, hidden, intermediate, false),
             Linear::load(w, prefix + names.up, hidden, intermediate, false),
             Linear::load(w, prefix + names.down, intermediate, hidden, false), act, std::nullopt};
  if (w.options().fuse_projections) m.gate_up = fuse_linears({&m.gate, &m.up});
  return m;
}

Array GatedMLP::gated(const LinearInput& x) const {
  std::optional<Activation> fused = fusable_activation(act);
  // (fuse_linears never fuses int8-compute weights; an observer must see gate and up apart.)
  if (gate_up && fused && !current_linear_input_observer()) return gate_up->gated(x, *fused);
  std::vector<Array> gate_up_out = fused_outputs(gate_up, {&gate, &up}, x);
  return multiply(activation(act, gate_up_out[0]), gate_up_out[1]);
}

Array GatedMLP::operator()(const LinearInput& x) const { return down(gated(x)); }

Array GatedMLP::operator()(const LinearInput& x, const Array& residual) const {
  return down.plus_residual(gated(x), residual);
}

}  // namespace tessera::nn
