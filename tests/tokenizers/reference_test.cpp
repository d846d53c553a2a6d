// Compares tessera's tokenizer with the Hugging Face `tokenizers` library on the committed
// reference cases (tests/fixtures/tokenizers/<name>/cases.jsonl, made by generate.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/tokenizer.h"

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(TESSERA_FIXTURES) / "tokenizers";

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (fs::exists(entry.path() / "cases.jsonl")) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<Json> read_cases(const fs::path& file) {
  std::ifstream stream(file);
  std::vector<Json> cases;
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) cases.push_back(Json::parse(line));
  }
  return cases;
}

std::string describe(const Json& row, std::size_t index) {
  std::ostringstream out;
  out << "case " << index << ": text=" << row["text"].dump();
  if (row.contains("text_pair")) out << " text_pair=" << row["text_pair"].dump();
  out << " add_special_tokens=" << row["add_special_tokens"];
  return out.str();
}

class ReferenceTest : public testing::TestWithParam<std::string> {};

TEST_P(ReferenceTest, MatchesHuggingFaceTokenizers) {
  const fs::path dir = kFixtures / GetParam();
  const auto tokenizer = tessera::Tokenizer::from_file(dir);
  const auto cases = read_cases(dir / "cases.jsonl");
  ASSERT_GT(cases.size(), 50u);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Json& row = cases[i];
    SCOPED_TRACE(describe(row, i));
    const std::string text = row["text"];
    std::optional<std::string> pair;
    if (row.contains("text_pair")) pair = row["text_pair"].get<std::string>();
    std::optional<std::string_view> pair_view;
    if (pair) pair_view = *pair;
    const tessera::Encoding encoding =
        tokenizer.encode(text, pair_view, row["add_special_tokens"].get<bool>());

    EXPECT_EQ(encoding.ids, row["input_ids"].get<std::vector<uint32_t>>());
    EXPECT_EQ(encoding.type_ids, row["token_type_ids"].get<std::vector<uint32_t>>());
    EXPECT_EQ(encoding.attention_mask, row["attention_mask"].get<std::vector<uint32_t>>());
    std::vector<std::vector<std::size_t>> offsets;
    for (const auto& [start, end] : encoding.offsets) offsets.push_back({start, end});
    EXPECT_EQ(offsets, row["offsets"].get<std::vector<std::vector<std::size_t>>>());
    EXPECT_EQ(tokenizer.decode(row["input_ids"].get<std::vector<uint32_t>>(), true),
              row["decoded"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceTest, testing::ValuesIn(fixture_names()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
