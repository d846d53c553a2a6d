// `tessera generate` as a user runs it: greedy ids equal transformers', --json output, chat
// templates, and every bad input one line on stderr with a non-zero exit.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/cli_runner.h"

namespace tessera {
namespace {

using testing_support::CliTest;
using testing_support::quoted;

const std::filesystem::path kLlama = std::filesystem::path(TESSERA_FIXTURES) / "decoders" / "llama";

class GenerateCli : public CliTest {};

TEST_F(GenerateCli, GreedyIdsMatchTransformers) {
  // greedy.safetensors of the llama fixture: prompt 42,68,18,249,134,59.
  auto r = run("generate " + quoted(kLlama) + " --prompt-ids 42,68,18,249,134,59 --max-tokens 6 --temp 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ids"], nlohmann::json({122, 122, 89, 265, 80, 266}));
  EXPECT_TRUE(j["text"].is_string());
}

TEST_F(GenerateCli, TextPromptStreamsText) {
  auto r = run("generate " + quoted(kLlama) + " --prompt 'The quick brown' --max-tokens 5 --temp 0.8 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

// --prompts FILE: one JSON line per prompt, each what the prompt gives alone.
TEST_F(GenerateCli, PromptsFileGeneratesEveryPromptAsOneBatch) {
  std::ofstream(dir_ / "prompts.txt") << "The quick brown\nfox\n\njumps over the lazy dog\n";
  auto batch = run("generate " + quoted(kLlama) + " --prompts " + quoted(dir_ / "prompts.txt") + " --max-tokens 5 --temp 0");
  ASSERT_EQ(batch.exit_code, 0) << batch.err;
  std::istringstream lines(batch.out);
  std::vector<std::string> got;
  for (std::string line; std::getline(lines, line);) got.push_back(line);
  ASSERT_EQ(got.size(), 3u) << batch.out;  // the empty line is no prompt
  const char* prompts[] = {"The quick brown", "fox", "jumps over the lazy dog"};
  for (size_t i = 0; i < 3; ++i) {
    auto alone = run("generate " + quoted(kLlama) + " --prompt '" + prompts[i] + "' --max-tokens 5 --temp 0 --json");
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    EXPECT_EQ(nlohmann::json::parse(got[i]), nlohmann::json::parse(alone.out)) << prompts[i];
  }
}

TEST_F(GenerateCli, ChatWithoutTemplateAndBadInputsFailInOneLine) {
  for (const std::string& args : std::vector<std::string>
       {"generate " + quoted(kLlama) + " --prompt hi --chat",  // the fixture has no chat template
        "generate " + quoted(kLlama),
        "generate " + quoted(kLlama) + " --prompt-ids 1,x,3",
        "generate " + quoted(kLlama) + " --prompt-ids 1,99999",
        "generate " + quoted(kLlama) + " --prompt hi --prompt-ids 1",
        "generate " + quoted(kLlama) + " --prompt hi --top-p 0",
        "generate " + quoted(kLlama) + " --prompt hi --temp -1",
        "generate " + quoted(kLlama) + " --prompt hi --kv-bits 3",
        "generate " + quoted(kLlama) + " --prompts /nonexistent/prompts.txt",
        "generate " + quoted(kLlama) + " --prompts /dev/null",
        "generate " + quoted(kLlama) + " --prompt hi --prompts /dev/null",
        "generate " + quoted(kLlama) + " --prompt hi --kv-bits 8 --kv-group-size 48",
        "generate " + quoted(kLlama) + " --prompt hi --kv-bits 8",  // head_dim 8 < group 64
        std::string("generate /nonexistent --prompt hi"),
        "generate " + quoted(std::filesystem::path(TESSERA_FIXTURES) / "models" / "bert_model") + " --prompt-ids 1,2"}) {
    auto r = run(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_TRUE(r.one_error_line()) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

}  // namespace
}  // namespace tessera
