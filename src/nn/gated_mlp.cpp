#include "nn/gated_mlp.h"

namespace tessera::nn {

GatedMLP GatedMLP::load(Weights& w, const std::string& prefix, const Names& names, int64_t hidden,
                        int64_t intermediate, const std::string& act) {
  check_activation(act);
  return {Linear::load(w, prefix + names.gate, hidden, intermediate, false),
          Linear::load(w, prefix + names.up, hidden, intermediate, false),
          Linear::load(w, prefix + names.down, intermediate, hidden, false), act};
}

Array GatedMLP::operator()(const Array& x) const {
  return down(multiply(activation(act, gate(x)), up(x)));
}

}  // namespace tessera::nn
