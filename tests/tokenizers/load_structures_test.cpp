// The flat structures built while loading a tokenizer.json: the Vocabulary's slots hold tokens
// of up to 11 bytes inline and longer ones in the arena (the boundary, the hash-tag compare and
// duplicates on both sides of it), and the Unigram trie is built per character with
// insertions finishing out of order (a repeated piece must still keep its last index).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/tokenizer.h"
#include "tokenizers/merge_table.h"
#include "tokenizers/vocabulary.h"

namespace {

using tessera::tokenizers::TokenId;
using tessera::tokenizers::MergeTable;
using tessera::tokenizers::Vocabulary;

// Merges are 8-byte slots for ids below 2^20 and a wide map above: a pair on either side, and
// one listed twice, must come back with its last rank and its result.
TEST(MergeTable, PairsOnBothSidesOfTheCompactLimitKeepTheirLastRank) {
  constexpr uint32_t kLarge = uint32_t{1} << 20;
  struct Merge {
    uint32_t left, right, new_id;
  };
  const std::vector<Merge> merges = {{1, 2, 10},          {kLarge, 2, 11}, {1, kLarge + 5, 12},
                                     {kLarge - 1, 3, 13}, {1, 2, 14},      {kLarge, 2, 15},
                                     {0, 0, 16}};
  MergeTable table(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    table.insert(merges[rank].left, merges[rank].right, static_cast<uint32_t>(rank),
                 merges[rank].new_id);
  }
  auto expect_merge = [&](uint32_t left, uint32_t right, uint32_t rank, uint32_t new_id) {
    const auto found = table.find(left, right);
    ASSERT_TRUE(found.has_value()) << left << " " << right;
    EXPECT_EQ(found->rank, rank);
    EXPECT_EQ(found->new_id, new_id);
  };
  expect_merge(1, 2, 4, 14);
  expect_merge(kLarge, 2, 5, 15);
  expect_merge(1, kLarge + 5, 2, 12);
  expect_merge(kLarge - 1, 3, 3, 13);
  expect_merge(0, 0, 6, 16);
  EXPECT_FALSE(table.find(2, 1).has_value());
  EXPECT_FALSE(table.find(kLarge, 3).has_value());
  EXPECT_FALSE(table.find(3, kLarge - 1).has_value());
}

TEST(Vocabulary, FindsTokensOfEveryLengthAroundTheInlineLimit) {
  std::vector<std::string> tokens = {""};
  for (std::size_t length = 1; length <= 40; ++length) {
    tokens.push_back(std::string(length, 'a'));
    tokens.push_back(std::string(length - 1, 'a') + "b");     // differs only in its last byte
    tokens.push_back("\xC4\xA0" + std::string(length, 'z'));  // non-ASCII head
  }
  std::vector<TokenId> entries;
  for (const std::string& token : tokens) {
    entries.push_back(TokenId{token, static_cast<uint32_t>(entries.size())});
  }
  const Vocabulary vocabulary(entries);
  ASSERT_EQ(vocabulary.size(), tokens.size());
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    SCOPED_TRACE(tokens[id]);
    EXPECT_EQ(vocabulary.find(tokens[id]), id);
    EXPECT_EQ(vocabulary.token(static_cast<uint32_t>(id)), tokens[id]);
  }
  // Prefixes, extensions and a zero byte that the inline zero padding must not confuse.
  EXPECT_EQ(vocabulary.find(std::string(41, 'a')), std::nullopt);
  EXPECT_EQ(vocabulary.find(std::string("aa\0", 3)), std::nullopt);
  EXPECT_EQ(vocabulary.find(std::string(11, 'a') + std::string(1, '\0')), std::nullopt);
  EXPECT_EQ(vocabulary.find("c"), std::nullopt);
  EXPECT_EQ(vocabulary.token(static_cast<uint32_t>(tokens.size())), std::nullopt);
}

TEST(Vocabulary, DuplicatesAndSharedIdsOnBothSidesOfTheInlineLimit) {
  const std::string long_token = "a_token_longer_than_eleven_bytes";
  const std::vector<TokenId> entries = {
      {"short", 0}, {long_token, 1}, {"short", 2}, {long_token, 3}, {"zz", 4}, {"aa", 4},
  };
  const Vocabulary vocabulary(entries);
  EXPECT_EQ(vocabulary.size(), 4u);
  EXPECT_EQ(vocabulary.find("short"), 2u);
  EXPECT_EQ(vocabulary.find(long_token), 3u);
  EXPECT_EQ(vocabulary.token(0), std::nullopt);
  EXPECT_EQ(vocabulary.token(1), std::nullopt);
  EXPECT_EQ(vocabulary.token(3), long_token);
  EXPECT_EQ(vocabulary.token(4), "zz");  // the greatest of the tokens sharing an id
}

TEST(Vocabulary, EmptyVocabularyFindsNothing) {
  const Vocabulary vocabulary(std::vector<TokenId>{});
  EXPECT_EQ(vocabulary.size(), 0u);
  EXPECT_EQ(vocabulary.find("a"), std::nullopt);
  EXPECT_EQ(vocabulary.token(0), std::nullopt);
}

std::string unigram_json(const std::string& pieces) {
  return R"({"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], )" + pieces +
         "]}}";
}

TEST(UnigramTrie, RepeatedPieceKeepsItsLastScore) {
  // More pieces than insertions in flight; the repeat, listed last, scores so low that the
  // best segmentation splits the word, which it does only if the trie kept the last listing.
  std::string pieces = R"(["\u00e9t\u00e9\u00e9t\u00e9", -1.0])";
  for (int i = 0; i < 20; ++i) pieces += ", [\"x" + std::to_string(i) + "\", -2.0]";
  pieces += R"(, ["été", -3.0], ["étéété", -10.0])";
  const auto tokenizer = tessera::Tokenizer::from_json(unigram_json(pieces));
  EXPECT_EQ(tokenizer.token_to_id("étéété"), 23u);
  EXPECT_EQ(tokenizer.encode("étéété", std::nullopt, false).ids, (std::vector<uint32_t>{22, 22}));
  EXPECT_EQ(tokenizer.encode("x7", std::nullopt, false).ids, std::vector<uint32_t>{9});
}

TEST(UnigramTrie, PrefixesEndOnCharacterBoundariesOfEveryWidth) {
  // 1-, 2-, 3- and 4-byte characters; pieces that are prefixes of one another.
  const auto tokenizer = tessera::Tokenizer::from_json(unigram_json(
      R"(["a", -1.0], ["aé", -1.0], ["aé的", -1.0], ["aé的😀", -1.0], ["的", -5.0],
         ["😀", -5.0], ["é", -5.0], ["", -1.0])"));
  EXPECT_EQ(tokenizer.encode("aé的😀", std::nullopt, false).ids, std::vector<uint32_t>{4});
  EXPECT_EQ(tokenizer.encode("aé的", std::nullopt, false).ids, std::vector<uint32_t>{3});
  EXPECT_EQ(tokenizer.encode("😀aé", std::nullopt, false).ids, (std::vector<uint32_t>{6, 2}));
  EXPECT_EQ(tokenizer.encode("b", std::nullopt, false).ids, std::vector<uint32_t>{0});
}

}  // namespace
