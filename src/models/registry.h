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

// The model in directory `dir` built over its checkpoint as `options` ask, with the weights it
// loaded (tessera convert writes those).
struct BuiltModel {
  std::unique_ptr<Model> model;
  Weights weights;
};
BuiltModel build_model(const std::string& dir, const LoadOptions& options);

}  // namespace tessera
