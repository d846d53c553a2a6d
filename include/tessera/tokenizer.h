#pragma once
// Hugging Face tokenizer.json in C++: the same ids, type ids, offsets and decoded text as the
// `tokenizers` library. Offsets are in Unicode code points of the input text, as the Python
// library reports them.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera {

struct Encoding {
  std::vector<uint32_t> ids;
  std::vector<uint32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<std::size_t, std::size_t>> offsets;  // [start, end) in code points
  std::vector<uint32_t> special_tokens_mask;
  std::vector<uint32_t> attention_mask;
  std::vector<std::optional<uint32_t>> word_ids;
  std::vector<std::optional<uint32_t>> sequence_ids;

  std::size_t size() const { return ids.size(); }
};

enum class TruncationStrategy { kLongestFirst, kOnlyFirst, kOnlySecond };
enum class Direction { kLeft, kRight };

struct TruncationParams {
  std::size_t max_length = 512;
  std::size_t stride = 0;
  TruncationStrategy strategy = TruncationStrategy::kLongestFirst;
  Direction direction = Direction::kRight;
};

struct PaddingParams {
  std::optional<std::size_t> fixed_length;  // unset: pad to the longest encoding of the batch
  std::size_t pad_to_multiple_of = 0;       // 0: no rounding
  Direction direction = Direction::kRight;
  uint32_t pad_id = 0;
  uint32_t pad_type_id = 0;
  std::string pad_token = "[PAD]";
};

namespace tokenizers {
class TokenizerPipeline;
}

class Tokenizer {
 public:
  // Reads a tokenizer.json, or the tokenizer.json of a model directory. Throws tessera::Error.
  static Tokenizer from_file(const std::filesystem::path& path);
  static Tokenizer from_json(std::string_view json);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // `text` and `pair` must be valid UTF-8 (throws tessera::Error otherwise).
  Encoding encode(std::string_view text, std::optional<std::string_view> pair = std::nullopt,
                  bool add_special_tokens = true) const;
  // Encodes every input (in parallel) and pads them as the padding settings say.
  std::vector<Encoding> encode_batch(
      const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
      bool add_special_tokens = true) const;
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special_tokens = true) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(uint32_t id) const;
  std::size_t vocab_size() const;  // model vocabulary plus added tokens

  // Settings read from tokenizer.json; they can be replaced.
  const std::optional<TruncationParams>& truncation() const;
  void set_truncation(std::optional<TruncationParams> params);
  const std::optional<PaddingParams>& padding() const;
  void set_padding(std::optional<PaddingParams> params);

 private:
  explicit Tokenizer(std::unique_ptr<tokenizers::TokenizerPipeline> pipeline);
  std::unique_ptr<tokenizers::TokenizerPipeline> pipeline_;
};

}  // namespace tessera
