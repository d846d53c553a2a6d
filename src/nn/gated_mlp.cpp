#include "nn/gated_mlp.h"

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

Array GatedMLP::operator()(const Array& x) const {
  std::vector<Array> gate_up_out = fused_outputs(gate_up, {&gate, &up}, x);
  return down(multiply(activation(act, gate_up_out[0]), gate_up_out[1]));
}

}  // namespace tessera::nn
