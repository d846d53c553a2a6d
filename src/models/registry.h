#pragma once
// Architecture names (config.json architectures[0]) and how to build each.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/config.h"
#include "models/weights.h"

namespace tessera {

struct ArchitectureEntry {
  std::string name;         // e.g. "BertForMaskedLM"
  std::string base_prefix;  // checkpoint prefix of the base model inside task heads ("bert.")
  std::function<std::unique_ptr<Model>(const ModelConfig&, Weights&)> build;
};

}  // namespace tessera
