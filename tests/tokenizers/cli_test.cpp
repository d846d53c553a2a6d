// The `tessera tokenize` command: JSON lines in and out, and one-line errors on bad input.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/cli_runner.h"

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(TESSERA_FIXTURES) / "tokenizers";

using tessera::testing_support::CommandResult;
using tessera::testing_support::read_file;

std::vector<Json> fixture_rows(const std::string& name) {
  std::vector<Json> rows;
  std::ifstream stream(kFixtures / name / "cases.jsonl");
  for (std::string line; std::getline(stream, line);) rows.push_back(Json::parse(line));
  return rows;
}

std::vector<Json> parse_lines(const std::string& text) {
  std::vector<Json> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(Json::parse(line));
  return lines;
}

// Runs `tessera tokenize ARGS` in a scratch directory (tests/support/cli_runner.h).
class CliTest : public tessera::testing_support::CliTest {
 protected:
  CommandResult run(const std::string& args, const std::string& stdin_bytes) {
    return tessera::testing_support::CliTest::run("tokenize " + args, stdin_bytes);
  }

  // Runs every fixture row of `name` with the given special-token setting through the command.
  void expect_matches_fixture(const std::string& name, bool add_special_tokens) {
    std::string input;
    std::vector<Json> expected;
    for (const Json& row : fixture_rows(name)) {
      if (row["add_special_tokens"] != add_special_tokens) continue;
      Json line{{"text", row["text"]}};
      if (row.contains("text_pair")) line["text_pair"] = row["text_pair"];
      input += line.dump() + "\n";
      expected.push_back(row);
    }
    const std::string args = "'" + (kFixtures / name).string() + "'" +
                             (add_special_tokens ? "" : " --no-special-tokens");
    const CommandResult result = run(args, input);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto lines = parse_lines(result.out);
    ASSERT_EQ(lines.size(), expected.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      SCOPED_TRACE("row " + std::to_string(i) + ": " + expected[i]["text"].dump());
      for (const char* key : {"input_ids", "token_type_ids", "attention_mask", "offsets"}) {
        EXPECT_EQ(lines[i][key], expected[i][key]) << key;
      }
    }
  }
};

void expect_one_error_line(const CommandResult& result) {
  EXPECT_NE(result.exit_code, 0);
  ASSERT_FALSE(result.err.empty());
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
}

TEST_F(CliTest, EncodesLikeTheReferenceWithSpecialTokens) {
  expect_matches_fixture("bert-uncased", true);
  expect_matches_fixture("llama3.2-trimmed", true);
}

TEST_F(CliTest, EncodesLikeTheReferenceWithoutSpecialTokens) {
  expect_matches_fixture("xlmr-unigram", false);
}

TEST_F(CliTest, AcceptsTheTokenizerJsonFileItself) {
  const CommandResult result = run("'" + (kFixtures / "bert-cased" / "tokenizer.json").string() + "'",
                               "{\"text\": \"Hi\"}\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(parse_lines(result.out).size(), 1u);
}

TEST_F(CliTest, DecodesIdsSkippingSpecialTokens) {
  std::string input;
  std::vector<std::string> expected;
  for (const Json& row : fixture_rows("roberta-bpe")) {
    input += Json{{"ids", row["input_ids"]}}.dump() + "\n";
    expected.push_back(row["decoded"]);
  }
  const CommandResult result = run("'" + (kFixtures / "roberta-bpe").string() + "' --decode", input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = parse_lines(result.out);
  ASSERT_EQ(lines.size(), expected.size());
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["text"], expected[i]) << i;
}

TEST_F(CliTest, RejectsInvalidUtf8Input) {
  const std::string fixture = "'" + (kFixtures / "bert-uncased").string() + "'";
  expect_one_error_line(run(fixture, "{\"text\": \"ok\"}\n{\"text\": \"bad \xff\xfe byte\"}\n"));
  expect_one_error_line(run(fixture, "{\"text\": \"truncated \xe2\x82\"}\n"));
  expect_one_error_line(run(fixture, "{\"text\": \"surrogate \xed\xa0\x80\"}\n"));
  expect_one_error_line(run(fixture, "{\"text\": \"lone escape \\ud800\"}\n"));
}

TEST_F(CliTest, RejectsMalformedInputLines) {
  const std::string fixture = "'" + (kFixtures / "bert-uncased").string() + "'";
  expect_one_error_line(run(fixture, "{\"text\": \"unterminated\n"));
  expect_one_error_line(run(fixture, "[1, 2, 3]\n"));
  expect_one_error_line(run(fixture, "{\"text\": 42}\n"));
  expect_one_error_line(run(fixture + " --decode", "{\"ids\": [1, -2]}\n"));
  expect_one_error_line(run(fixture + " --decode", "{\"ids\": \"nope\"}\n"));
}

TEST_F(CliTest, RejectsMalformedTokenizerJson) {
  const std::string valid = read_file(kFixtures / "bert-uncased" / "tokenizer.json");
  const std::vector<std::string> broken = {
      valid.substr(0, valid.size() / 2),  // truncated
      "{}",
      "[]",
      R"({"model": {"type": "Martian"}})",
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})",
      R"({"model": {"type": "WordPiece", "vocab": {"a": "zero"}}})",
      R"({"normalizer": {"type": "Replace", "pattern": {"Regex": "(unclosed"}, "content": ""},
          "model": {"type": "WordPiece", "vocab": {"a": 0}}})",
      R"({"normalizer": {"type": "Precompiled", "precompiled_charsmap": "AAAA"},
          "model": {"type": "WordPiece", "vocab": {"a": 0}}})",
  };
  for (const std::string& contents : broken) {
    std::ofstream(dir_ / "tokenizer.json", std::ios::binary) << contents;
    SCOPED_TRACE(contents.substr(0, 80));
    expect_one_error_line(
        run("'" + (dir_ / "tokenizer.json").string() + "'", "{\"text\": \"a\"}\n"));
  }
  expect_one_error_line(run("'" + (dir_ / "missing.json").string() + "'", ""));
  expect_one_error_line(run("", ""));
}

}  // namespace
