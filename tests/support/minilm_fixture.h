#pragma once
// The real all-MiniLM-L6-v2 (models/, fetched by scripts/fetch-models.sh) and its reference data
// (tests/fixtures/minilm, made by tests/fixtures/generate.py with sentence-transformers): the
// tests that compare tessera's embeddings with float32 sentence-transformers share these.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/safetensors.h"

namespace tessera::testing_support {

inline const std::filesystem::path kMiniLMModel = std::filesystem::path(TESSERA_MODELS) / "all-MiniLM-L6-v2";
inline const std::filesystem::path kMiniLMFixture = std::filesystem::path(TESSERA_FIXTURES) / "minilm";

inline double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// sentences.txt, one per line, kept unstripped.
inline std::vector<std::string> minilm_sentences() {
  std::ifstream in(kMiniLMFixture / "sentences.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The token ids sentence-transformers fed, one row per sentence, padding dropped.
inline std::vector<std::vector<int64_t>> minilm_reference_ids() {
  TensorMap ids = load_safetensors((kMiniLMFixture / "token_ids.safetensors").string());
  std::vector<int64_t> flat = ids.at("input_ids").to_vector<int64_t>();
  std::vector<int64_t> mask = ids.at("attention_mask").to_vector<int64_t>();
  int64_t n = ids.at("input_ids").shape(0), s = ids.at("input_ids").shape(1);
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < s; ++j)
      if (mask[size_t(i * s + j)]) rows[size_t(i)].push_back(flat[size_t(i * s + j)]);
  return rows;
}

// Its normalized float32 embeddings, one row per sentence.
inline std::vector<std::vector<float>> minilm_reference_embeddings() {
  TensorMap t = load_safetensors((kMiniLMFixture / "expected_embeddings.safetensors").string());
  const Array& e = t.at("embeddings_normalized");
  std::vector<float> flat = e.to_vector<float>();
  std::vector<std::vector<float>> rows;
  for (int64_t i = 0; i < e.shape(0); ++i)
    rows.emplace_back(flat.begin() + i * e.shape(1), flat.begin() + (i + 1) * e.shape(1));
  return rows;
}

}  // namespace tessera::testing_support
