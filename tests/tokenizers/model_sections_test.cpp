// The dedicated reader of model.vocab and model.merges (src/tokenizers/model_sections.cpp):
// both merges serializations, JSON escapes in tokens, duplicate keys resolved as the DOM loader
// resolved them, and one clear error for each kind of malformed section.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "tessera/tokenizer.h"

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(TESSERA_FIXTURES) / "tokenizers";

Json read_fixture(const std::string& name) {
  std::ifstream stream(kFixtures / name / "tokenizer.json");
  return Json::parse(stream);
}

std::vector<std::string> fixture_texts(const std::string& name) {
  std::vector<std::string> texts;
  std::ifstream stream(kFixtures / name / "cases.jsonl");
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) texts.push_back(Json::parse(line)["text"].get<std::string>());
  }
  return texts;
}

void expect_same_encodings(const tessera::Tokenizer& expected, const tessera::Tokenizer& actual,
                           const std::vector<std::string>& texts) {
  ASSERT_EQ(expected.vocab_size(), actual.vocab_size());
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    const auto want = expected.encode(text);
    const auto got = actual.encode(text);
    EXPECT_EQ(want.ids, got.ids);
    EXPECT_EQ(want.offsets, got.offsets);
  }
}

// Every merge as a "left right" string, the serialization of tokenizers before 0.20.
Json with_string_merges(Json json) {
  Json merges = Json::array();
  for (const Json& pair : json["model"]["merges"]) {
    merges.push_back(pair[0].get<std::string>() + " " + pair[1].get<std::string>());
  }
  json["model"]["merges"] = merges;
  return json;
}

std::string error_of(const std::string& json) {
  try {
    tessera::Tokenizer::from_json(json);
  } catch (const tessera::Error& error) {
    return error.what();
  }
  return "(no error)";
}

const char* kSmallBpe = R"({"model": {"type": "BPE", "vocab": %VOCAB%, "merges": %MERGES%}})";

std::string small_bpe(const std::string& vocab, const std::string& merges) {
  std::string json = kSmallBpe;
  json.replace(json.find("%VOCAB%"), 7, vocab);
  json.replace(json.find("%MERGES%"), 8, merges);
  return json;
}

TEST(ModelSections, BothMergeSerializationsGiveTheSameTokenizer) {
  for (const std::string name : {"llama3.2-trimmed", "qwen2.5-trimmed", "roberta-bpe",
                                 "mistral-style-bpe", "misc-bpe"}) {
    SCOPED_TRACE(name);
    const Json pairs = read_fixture(name);
    ASSERT_TRUE(pairs["model"]["merges"][0].is_array());
    const auto from_pairs = tessera::Tokenizer::from_json(pairs.dump());
    const auto from_strings = tessera::Tokenizer::from_json(with_string_merges(pairs).dump());
    expect_same_encodings(from_pairs, from_strings, fixture_texts(name));
  }
}

TEST(ModelSections, EscapedTokensReadAsTheirCharacters) {
  // dump(..., ensure_ascii) writes every non-ASCII character as \uXXXX (surrogate pairs past
  // the BMP), so "Ġ" becomes "\u0120" and emoji become two escapes.
  for (const std::string name : {"qwen2.5-trimmed", "xlmr-unigram", "all-minilm-l6-v2"}) {
    SCOPED_TRACE(name);
    const Json json = read_fixture(name);
    const auto raw = tessera::Tokenizer::from_json(json.dump());
    const auto escaped = tessera::Tokenizer::from_json(json.dump(-1, ' ', true));
    expect_same_encodings(raw, escaped, fixture_texts(name));
  }
  const auto tokenizer = tessera::Tokenizer::from_json(
      R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {
          "[UNK]": 0, "\"": 1, "\\": 2, "\u0120a": 3, "\ud83d\ude00": 4, "\/\b\f\n\r\t": 5}}})");
  EXPECT_EQ(tokenizer.token_to_id("\""), 1u);
  EXPECT_EQ(tokenizer.token_to_id("\\"), 2u);
  EXPECT_EQ(tokenizer.token_to_id("\xC4\xA0"
                                   "a"),
            3u);
  EXPECT_EQ(tokenizer.token_to_id("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(tokenizer.token_to_id("/\b\f\n\r\t"), 5u);
  EXPECT_EQ(tokenizer.id_to_token(1), "\"");
}

TEST(ModelSections, VocabularyMatchesTheDomOnEveryFixture) {
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (!fs::exists(entry.path() / "tokenizer.json")) continue;
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const Json json = read_fixture(name);
    const auto tokenizer = tessera::Tokenizer::from_file(entry.path());
    const Json& vocab = json["model"]["vocab"];
    std::set<std::string> added;
    std::set<uint32_t> added_ids;
    for (const Json& token : json.value("added_tokens", Json::array())) {
      added.insert(token["content"].get<std::string>());
      added_ids.insert(token["id"].get<uint32_t>());
    }
    std::size_t index = 0;
    for (const auto& item : vocab.items()) {
      // Unigram: [piece, score] at index = id; the others: {"token": id}.
      const std::string token =
          vocab.is_array() ? item.value()[0].get<std::string>() : item.key();
      const uint32_t id = vocab.is_array() ? index++ : item.value().get<uint32_t>();
      if (added.count(token) || added_ids.count(id)) continue;  // the added vocabulary answers
      ASSERT_EQ(tokenizer.token_to_id(token), id) << token;
      ASSERT_EQ(tokenizer.id_to_token(id), token);
    }
  }
}

TEST(ModelSections, DuplicateKeysKeepTheLastValueAsTheDomDid) {
  const auto tokenizer = tessera::Tokenizer::from_json(
      R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1, "b": 2, "a": 3}}})");
  EXPECT_EQ(tokenizer.token_to_id("a"), 3u);
  EXPECT_EQ(tokenizer.id_to_token(1), std::nullopt);
  EXPECT_EQ(tokenizer.vocab_size(), 3u);

  // Tokens sharing an id: id_to_token gives the greatest, as the sorted DOM iteration did.
  const auto shared = tessera::Tokenizer::from_json(
      R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "zz": 1, "aa": 1}}})");
  EXPECT_EQ(shared.id_to_token(1), "zz");

  // A later "vocab", "merges" or "model" key replaces the earlier one.
  const auto later = tessera::Tokenizer::from_json(
      R"({"model": {"type": "BPE", "vocab": {"x": 0}, "merges": ["x x"]},
          "model": {"type": "BPE", "vocab": {"q": 7}, "merges": ["q q"],
                    "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}})");
  EXPECT_EQ(later.token_to_id("q"), std::nullopt);
  EXPECT_EQ(later.token_to_id("x"), std::nullopt);
  EXPECT_EQ(later.encode("ab", std::nullopt, false).ids, std::vector<uint32_t>{2});
}

TEST(ModelSections, MalformedSectionsGiveOneClearError) {
  struct Case {
    std::string json;
    std::string expected;  // a part of the message
  };
  const std::vector<Case> cases = {
      {small_bpe(R"("a")", "[]"), "(in model.vocab): expected an object"},
      {small_bpe(R"({"a": -1})", "[]"), "(in model.vocab): expected a token id"},
      {small_bpe(R"({"a": 1.5})", "[]"), "token id is not an integer"},
      {small_bpe(R"({"a": 4294967295})", "[]"), "token id out of range"},
      {small_bpe(R"({"a": 01})", "[]"), "leading zero"},
      {small_bpe(R"({"a" 1})", "[]"), "expected ':'"},
      {small_bpe(R"({"a": 0,})", "[]"), "(in model.vocab)"},
      {small_bpe(R"({"\ud800": 0})", "[]"), "high surrogate without its low half"},
      {small_bpe(R"({"\udc00": 0})", "[]"), "lone low surrogate"},
      {small_bpe(R"({"\x": 0})", "[]"), "invalid escape"},
      {small_bpe("{\"\xC3\x28\": 0}", "[]"), "ill-formed UTF-8"},
      {small_bpe("{\"a\tb\": 0}", "[]"), "control character"},
      {small_bpe(R"({"a": 0})", R"([1])"), "(in model.merges): merges must be strings"},
      {small_bpe(R"({"a": 0})", R"(["a"])"), "merge 1 is not two tokens"},
      {small_bpe(R"({"a": 0})", R"(["a a a"])"), "merge 1 is not two tokens"},
      {small_bpe(R"({"a": 0})", R"([["a", "a", "a"]])"), "(in model.merges): expected ']'"},
      {small_bpe(R"({"a": 0})", R"(["a a"])"), "merge result 'aa' is not in the vocabulary"},
      {small_bpe(R"({"a": 0})", R"(["a b"])"), "merge token 'b' is not in the vocabulary"},
      {R"({"model": {"type": "Unigram", "vocab": [["a", "x"]]}})", "expected a number"},
      {R"({"model": {"type": "Unigram", "vocab": ["a"]}})", "entries must be [\"piece\", score]"},
      {R"({"model": {"type": "Unigram", "vocab": {"a": 0}}})", "Unigram vocab entries are"},
      {R"({"model": {"type": "BPE", "vocab": [["a", 0]], "merges": []}})", "BPE vocab must be"},
      {R"({"model": {"type": "BPE", "merges": []}})", "missing field 'vocab'"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "missing field 'merges'"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0)", "unexpected end of text"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}} trailing)",
       "not valid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    const std::string message = error_of(c.json);
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

}  // namespace
