#pragma once
#include <vector>

#include "models/registry.h"

namespace tessera {

// BertModel, BertForMaskedLM, ...ForSequenceClassification, ...ForTokenClassification,
// ...ForQuestionAnswering, and the same five for Roberta and XLMRoberta.
std::vector<ArchitectureEntry> bert_family_architectures();

}  // namespace tessera
