#include "tokenizers/pipeline.h"

#include <algorithm>

#include "tokenizers/unicode.h"

namespace tessera::tokenizers {
namespace {

Direction parse_direction(const Json& json) {
  const std::string name = json.is_string() ? json.get<std::string>() : "Right";
  if (name == "Right") return Direction::kRight;
  if (name == "Left") return Direction::kLeft;
  fail_config("unknown direction '" + name + "'");
}

std::optional<TruncationParams> parse_truncation(const Json& json) {
  if (json.is_null()) return std::nullopt;
  TruncationParams params;
  params.max_length = json.value("max_length", params.max_length);
  params.stride = json.value("stride", params.stride);
  if (json.contains("direction")) params.direction = parse_direction(json["direction"]);
  const std::string strategy = json.value("strategy", std::string("LongestFirst"));
  if (strategy == "LongestFirst") {
    params.strategy = TruncationStrategy::kLongestFirst;
  } else if (strategy == "OnlyFirst") {
    params.strategy = TruncationStrategy::kOnlyFirst;
  } else if (strategy == "OnlySecond") {
    params.strategy = TruncationStrategy::kOnlySecond;
  } else {
    fail_config("unknown truncation strategy '" + strategy + "'");
  }
  return params;
}

std::optional<PaddingParams> parse_padding(const Json& json) {
  if (json.is_null()) return std::nullopt;
  PaddingParams params;
  if (json.contains("strategy") && json["strategy"].is_object()) {
    params.fixed_length = require(json["strategy"], "Fixed").get<std::size_t>();
  }
  if (json.contains("direction")) params.direction = parse_direction(json["direction"]);
  if (json.contains("pad_to_multiple_of") && !json["pad_to_multiple_of"].is_null()) {
    params.pad_to_multiple_of = json["pad_to_multiple_of"].get<std::size_t>();
  }
  params.pad_id = json.value("pad_id", params.pad_id);
  params.pad_type_id = json.value("pad_type_id", params.pad_type_id);
  params.pad_token = json.value("pad_token", params.pad_token);
  return params;
}

std::vector<AddedToken> parse_added_tokens(const Json& json) {
  std::vector<AddedToken> tokens;
  if (json.is_null()) return tokens;
  if (!json.is_array()) fail_config("added_tokens must be a list");
  for (const Json& item : json) {
    AddedToken token;
    token.content = require_string(item, "content");
    token.single_word = optional_bool(item, "single_word", false);
    token.lstrip = optional_bool(item, "lstrip", false);
    token.rstrip = optional_bool(item, "rstrip", false);
    token.normalized = optional_bool(item, "normalized", true);
    token.special = optional_bool(item, "special", false);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// Keeps `length` tokens of the encoding, from the side `direction` does not cut.
void truncate_encoding(Encoding& encoding, std::size_t length, Direction direction) {
  if (encoding.size() <= length) return;
  auto cut = [&](auto& values) {
    if (direction == Direction::kRight) {
      values.resize(length);
    } else {
      values.erase(values.begin(), values.end() - static_cast<std::ptrdiff_t>(length));
    }
  };
  cut(encoding.ids);
  cut(encoding.type_ids);
  cut(encoding.tokens);
  cut(encoding.offsets);
  cut(encoding.special_tokens_mask);
  cut(encoding.attention_mask);
  cut(encoding.word_ids);
  cut(encoding.sequence_ids);
}

void pad_encoding(Encoding& encoding, std::size_t length, const PaddingParams& params) {
  if (encoding.size() >= length) return;
  const std::size_t missing = length - encoding.size();
  auto pad = [&](auto& values, const auto& value) {
    const auto at = params.direction == Direction::kRight ? values.end() : values.begin();
    values.insert(at, missing, value);
  };
  pad(encoding.ids, params.pad_id);
  pad(encoding.type_ids, params.pad_type_id);
  pad(encoding.tokens, params.pad_token);
  pad(encoding.offsets, std::pair<std::size_t, std::size_t>{0, 0});
  pad(encoding.special_tokens_mask, 1u);
  pad(encoding.attention_mask, 0u);
  pad(encoding.word_ids, std::optional<uint32_t>{});
  pad(encoding.sequence_ids, std::optional<uint32_t>{});
}

}  // namespace

TokenizerPipeline::TokenizerPipeline(const Json& json, const ModelSections& sections) {
  if (!json.is_object()) fail_config("the top level must be an object");
  if (json.contains("version") && json["version"] != "1.0") {
    fail_config("unknown tokenizer version " + json["version"].dump());
  }
  normalizer_ = make_normalizer(json.value("normalizer", Json()));
  pre_tokenizer_ = make_pre_tokenizer(json.value("pre_tokenizer", Json()));
  model_ = make_model(require(json, "model"), sections);
  post_processor_ = make_post_processor(json.value("post_processor", Json()));
  decoder_ = make_decoder(json.value("decoder", Json()));
  truncation = parse_truncation(json.value("truncation", Json()));
  padding = parse_padding(json.value("padding", Json()));
  added_vocabulary_.add_tokens(parse_added_tokens(json.value("added_tokens", Json())), *model_,
                               normalizer_.get());
}

Encoding TokenizerPipeline::encode_sequence(std::string_view text, uint32_t type_id) const {
  std::size_t error_at = 0;
  if (!is_valid_utf8(text, &error_at)) {
    fail("tokenizer", "input is not valid UTF-8 (byte " + std::to_string(error_at) + ")");
  }
  PreTokenizedString pre_tokenized =
      added_vocabulary_.extract_and_normalize(normalizer_.get(), std::string(text));
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pre_tokenized);
  pre_tokenized.tokenize([this](const std::string& piece) { return model_->tokenize(piece); });
  return pre_tokenized.into_encoding(type_id);
}

std::pair<Encoding, std::optional<Encoding>> TokenizerPipeline::truncate(
    Encoding encoding, std::optional<Encoding> pair, bool add_special_tokens) const {
  if (!truncation) return {std::move(encoding), std::move(pair)};
  const std::size_t added = post_processor_ ? post_processor_->added_tokens(pair.has_value()) : 0;
  std::size_t max_length = truncation->max_length;
  if (add_special_tokens && added > 0) {
    if (added > max_length) fail("tokenizer", "truncation max_length is below the special tokens");
    max_length -= added;
  }
  const Direction direction = truncation->direction;
  if (max_length == 0) {
    truncate_encoding(encoding, 0, direction);
    if (pair) truncate_encoding(*pair, 0, direction);
    return {std::move(encoding), std::move(pair)};
  }
  const std::size_t total = encoding.size() + (pair ? pair->size() : 0);
  if (total <= max_length) return {std::move(encoding), std::move(pair)};
  const std::size_t to_remove = total - max_length;
  if (truncation->strategy == TruncationStrategy::kLongestFirst) {
    if (!pair) {
      truncate_encoding(encoding, total - to_remove, direction);
    } else {
      std::size_t n1 = encoding.size(), n2 = pair->size();
      const bool swap = n1 > n2;
      if (swap) std::swap(n1, n2);
      n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
      if (n1 + n2 > max_length) {
        n1 = max_length / 2;
        n2 = n1 + max_length % 2;
      }
      if (swap) std::swap(n1, n2);
      truncate_encoding(encoding, n1, direction);
      truncate_encoding(*pair, n2, direction);
    }
  } else {
    Encoding* target = truncation->strategy == TruncationStrategy::kOnlyFirst
                           ? &encoding
                           : (pair ? &*pair : nullptr);
    if (!target) fail("tokenizer", "truncation only_second needs a pair of sequences");
    if (target->size() <= to_remove) fail("tokenizer", "sequence too short to truncate");
    truncate_encoding(*target, target->size() - to_remove, direction);
  }
  return {std::move(encoding), std::move(pair)};
}

Encoding TokenizerPipeline::encode(std::string_view text, std::optional<std::string_view> pair,
                                   bool add_special_tokens) const {
  Encoding first = encode_sequence(text, 0);
  std::optional<Encoding> second;
  if (pair) second = encode_sequence(*pair, 1);
  std::tie(first, second) = truncate(std::move(first), std::move(second), add_special_tokens);

  std::vector<Encoding> parts;
  parts.push_back(std::move(first));
  if (second) parts.push_back(std::move(*second));
  for (std::size_t i = 0; i < parts.size(); ++i) {
    parts[i].sequence_ids.assign(parts[i].size(), static_cast<uint32_t>(i));
    if (post_processor_) parts[i].type_ids.assign(parts[i].size(), static_cast<uint32_t>(i));
  }
  if (post_processor_) parts = post_processor_->process(std::move(parts), add_special_tokens);
  Encoding encoding = merge_encodings(std::move(parts));
  pad(std::span(&encoding, 1));
  return encoding;
}

void TokenizerPipeline::pad(std::span<Encoding> encodings) const {
  if (!padding) return;
  std::size_t length = 0;
  if (padding->fixed_length) {
    length = *padding->fixed_length;
  } else {
    for (const auto& encoding : encodings) length = std::max(length, encoding.size());
  }
  if (padding->pad_to_multiple_of > 0 && length % padding->pad_to_multiple_of != 0) {
    length += padding->pad_to_multiple_of - length % padding->pad_to_multiple_of;
  }
  for (auto& encoding : encodings) pad_encoding(encoding, length, *padding);
}

std::string TokenizerPipeline::decode(const std::vector<uint32_t>& ids,
                                      bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (uint32_t id : ids) {
    auto token = id_to_token(id);
    if (!token) continue;
    if (skip_special_tokens && added_vocabulary_.is_special(*token)) continue;
    tokens.push_back(std::move(*token));
  }
  if (decoder_) {
    std::string text;
    for (const auto& part : decoder_->decode_chain(std::move(tokens))) text += part;
    return text;
  }
  std::string text;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) text += ' ';
    text += tokens[i];
  }
  return text;
}

std::optional<uint32_t> TokenizerPipeline::token_to_id(std::string_view token) const {
  if (auto id = added_vocabulary_.token_to_id(token)) return id;
  return model_->token_to_id(token);
}

std::optional<std::string> TokenizerPipeline::id_to_token(uint32_t id) const {
  if (auto token = added_vocabulary_.id_to_token(id)) return token;
  return model_->id_to_token(id);
}

std::size_t TokenizerPipeline::vocab_size() const {
  // Added tokens that are already in the model's vocabulary are not counted twice.
  std::size_t extra = 0;
  for (uint32_t id = static_cast<uint32_t>(model_->vocab_size());; ++id) {
    if (!added_vocabulary_.id_to_token(id)) break;
    ++extra;
  }
  return model_->vocab_size() + extra;
}

}  // namespace tessera::tokenizers
