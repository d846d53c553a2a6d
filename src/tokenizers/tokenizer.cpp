// The public Tokenizer: loading and the thin layer over TokenizerPipeline.
#include "tessera/tokenizer.h"

#include "tessera/buffer.h"
#include "tessera/error.h"
#include "tokenizers/model_sections.h"
#include "tokenizers/pipeline.h"

namespace tessera {

using tokenizers::TokenizerPipeline;

Tokenizer::Tokenizer(std::unique_ptr<TokenizerPipeline> pipeline)
    : pipeline_(std::move(pipeline)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json) {
  // The large model sections are read by their own scanner; the DOM holds only the rest.
  const tokenizers::SplitTokenizerJson split = tokenizers::split_tokenizer_json(json);
  tokenizers::Json parsed;
  try {
    parsed = tokenizers::Json::parse(split.rest);
  } catch (const tokenizers::Json::exception& error) {
    fail("tokenizer", std::string("tokenizer.json is not valid JSON: ") + error.what());
  }
  try {
    return Tokenizer(std::make_unique<TokenizerPipeline>(parsed, split.sections));
  } catch (const tokenizers::Json::exception& error) {
    // A field of the wrong JSON type somewhere in the description.
    fail("tokenizer", std::string("invalid tokenizer.json: ") + error.what());
  }
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(file)) file /= "tokenizer.json";
  // Mapped, not read: the text is scanned once, front to back, and a read would first copy it
  // into fresh pages (10 MB: ~2,500 page faults and a copy, ~10% of the load).
  std::shared_ptr<MappedFile> mapped;
  try {
    mapped = MappedFile::open(file.string());
  } catch (const Error&) {
    fail("tokenizer", "cannot open " + file.string());
  }
  try {
    return from_json(
        std::string_view(reinterpret_cast<const char*>(mapped->data()), mapped->size()));
  } catch (const Error& error) {
    throw Error(std::string(error.what()) + " (in " + file.string() + ")");
  }
}

Encoding Tokenizer::encode(std::string_view text, std::optional<std::string_view> pair,
                           bool add_special_tokens) const {
  return pipeline_->encode(text, pair, add_special_tokens);
}

std::vector<Encoding> Tokenizer::encode_batch(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
    bool add_special_tokens) const {
  std::vector<Encoding> encodings(inputs.size());
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 16)
  for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(inputs.size()); ++i) {
    try {
      const auto& [text, pair] = inputs[static_cast<std::size_t>(i)];
      std::optional<std::string_view> pair_view;
      if (pair) pair_view = *pair;
      encodings[static_cast<std::size_t>(i)] =
          pipeline_->encode(text, pair_view, add_special_tokens);
    } catch (...) {
#pragma omp critical
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  pipeline_->pad(encodings);
  return encodings;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special_tokens) const {
  return pipeline_->decode(ids, skip_special_tokens);
}

std::optional<uint32_t> Tokenizer::token_to_id(std::string_view token) const {
  return pipeline_->token_to_id(token);
}
std::optional<std::string> Tokenizer::id_to_token(uint32_t id) const {
  return pipeline_->id_to_token(id);
}
std::size_t Tokenizer::vocab_size() const { return pipeline_->vocab_size(); }

const std::optional<TruncationParams>& Tokenizer::truncation() const {
  return pipeline_->truncation;
}
void Tokenizer::set_truncation(std::optional<TruncationParams> params) {
  pipeline_->truncation = std::move(params);
}
const std::optional<PaddingParams>& Tokenizer::padding() const { return pipeline_->padding; }
void Tokenizer::set_padding(std::optional<PaddingParams> params) {
  pipeline_->padding = std::move(params);
}

}  // namespace tessera
