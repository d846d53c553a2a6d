#pragma once
// Calibration for quantization: the float model run over sample texts, with every Linear
// layer's input second moment recorded (LoadOptions::calibration takes the result).
#include <string>
#include <vector>

#include "tessera/model.h"

namespace tessera {

// The non-empty lines of a text file; one error when it is missing, unreadable or has none.
std::vector<std::string> read_calibration_texts(const std::string& path);

// Embeds each text alone with the float model (`options` without quantize) and returns, per
// Linear layer, E[x x^T] over its inputs with every text weighted equally (a text's tokens
// share its weight): sentence embeddings average over tokens, so a short text's few tokens,
// [CLS] and [SEP] among them, matter as much to its embedding as a long text's many.
LinearInputStatistics collect_linear_input_statistics(const std::string& model,
                                                      const std::vector<std::string>& texts,
                                                      const LoadOptions& options = {});

}  // namespace tessera
