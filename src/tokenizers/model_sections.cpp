#include "tokenizers/model_sections.h"

#include "tokenizers/json_cursor.h"

namespace tessera::tokenizers {
namespace {

using Span = std::pair<std::size_t, std::size_t>;

class SectionScanner {
 public:
  SectionScanner(std::string_view text, ModelSections& sections)
      : cursor_(text), sections_(sections) {}

  // Walks the top-level object; returns the spans of the sections it read, in text order.
  std::vector<Span> scan() {
    cursor_.expect('{');
    if (cursor_.consume('}')) return spans_;
    do {
      const bool is_model = cursor_.read_string(scratch_) == "model";
      cursor_.expect(':');
      if (!is_model) {
        cursor_.skip_value();
        continue;
      }
      // A later "model" key replaces an earlier one, as in the DOM.
      sections_.token_ids.reset();
      sections_.scored_pieces.reset();
      sections_.merges.reset();
      if (cursor_.peek() == '{') {
        scan_model();
      } else {
        cursor_.skip_value();
      }
    } while (cursor_.consume(','));
    cursor_.expect('}');
    return spans_;
  }

 private:
  void scan_model() {
    cursor_.expect('{');
    if (cursor_.consume('}')) return;
    do {
      const std::string_view key = cursor_.read_string(scratch_);
      const bool is_vocab = key == "vocab";
      const bool is_merges = key == "merges";
      cursor_.expect(':');
      if (!is_vocab && !is_merges) {
        cursor_.skip_value();
        continue;
      }
      cursor_.peek();
      const std::size_t begin = cursor_.position();
      cursor_.set_section(is_vocab ? "model.vocab" : "model.merges");
      if (is_vocab) {
        read_vocab();
      } else {
        read_merges();
      }
      cursor_.set_section({});
      spans_.emplace_back(begin, cursor_.position());
    } while (cursor_.consume(','));
    cursor_.expect('}');
  }

  // Escaped strings are unescaped into the scratch buffer, which the next string reuses: keep
  // them in the arena.
  std::string_view keep(std::string_view value) {
    if (value.data() != scratch_.data()) return value;
    auto& arena = sections_.unescaped;
    const std::size_t offset = arena.size();
    arena.insert(arena.end(), value.begin(), value.end());
    return {arena.data() + offset, value.size()};
  }

  // Reserving room for as many entries as the rest of the text could hold (each takes at least
  // `min_entry_bytes`) spares the regrowth copies: the pages of the unused part are never
  // touched, so only address space is wasted.
  std::size_t most_entries(std::size_t min_entry_bytes) const {
    return cursor_.remaining() / min_entry_bytes + 1;
  }

  void read_vocab() {
    const char first = cursor_.peek();
    if (first == '{') {
      read_token_ids();
    } else if (first == '[') {
      read_scored_pieces();
    } else {
      cursor_.fail("expected an object {\"token\": id, ...} or an array [[\"piece\", score], ...]");
    }
  }

  void read_token_ids() {
    SectionVector<TokenId> entries;
    entries.reserve(most_entries(sizeof(R"("":0,)") - 1));
    cursor_.expect('{');
    if (!cursor_.consume('}')) {
      do {
        const std::string_view token = keep(cursor_.read_string(scratch_));
        cursor_.expect(':');
        entries.push_back(TokenId{token, cursor_.read_id()});
      } while (cursor_.consume(','));
      cursor_.expect('}');
    }
    sections_.scored_pieces.reset();
    sections_.token_ids = std::move(entries);
  }

  void read_scored_pieces() {
    SectionVector<ScoredPiece> pieces;
    pieces.reserve(most_entries(sizeof(R"(["",0],)") - 1));
    cursor_.expect('[');
    if (!cursor_.consume(']')) {
      do {
        if (cursor_.peek() != '[') cursor_.fail("entries must be [\"piece\", score]");
        cursor_.expect('[');
        const std::string_view piece = keep(cursor_.read_string(scratch_));
        cursor_.expect(',');
        pieces.push_back(ScoredPiece{piece, cursor_.read_number()});
        cursor_.expect(']');
      } while (cursor_.consume(','));
      cursor_.expect(']');
    }
    sections_.token_ids.reset();
    sections_.scored_pieces = std::move(pieces);
  }

  void read_merges() {
    SectionVector<MergePair> merges;
    merges.reserve(most_entries(sizeof(R"(" ",)") - 1));
    cursor_.expect('[');
    if (!cursor_.consume(']')) {
      do {
        const char first = cursor_.peek();
        if (first == '"') {
          JsonCursor::Spaces spaces;
          const std::string_view line = keep(cursor_.read_string(scratch_, spaces));
          if (spaces.first == std::string_view::npos || spaces.several) {
            cursor_.fail("merge " + std::to_string(merges.size() + 1) +
                         " is not two tokens separated by one space");
          }
          merges.emplace_back(line.substr(0, spaces.first), line.substr(spaces.first + 1));
        } else if (first == '[') {
          cursor_.expect('[');
          const std::string_view left = keep(cursor_.read_string(scratch_));
          cursor_.expect(',');
          const std::string_view right = keep(cursor_.read_string(scratch_));
          cursor_.expect(']');
          merges.emplace_back(left, right);
        } else {
          cursor_.fail("merges must be strings \"a b\" or pairs [\"a\", \"b\"]");
        }
      } while (cursor_.consume(','));
      cursor_.expect(']');
    }
    sections_.merges = std::move(merges);
  }

  JsonCursor cursor_;
  ModelSections& sections_;
  std::string scratch_;
  std::vector<Span> spans_;
};

}  // namespace

SplitTokenizerJson split_tokenizer_json(std::string_view text) {
  SplitTokenizerJson out;
  if (JsonCursor(text).peek() != '{') {
    out.rest = text;
    return out;
  }
  out.sections.unescaped.reserve(text.size());
  const std::vector<Span> spans = SectionScanner(text, out.sections).scan();
  std::size_t copied = 0;
  for (const auto& [begin, end] : spans) {
    out.rest.append(text.substr(copied, begin - copied));
    out.rest.append("null");
    copied = end;
  }
  out.rest.append(text.substr(copied));
  return out;
}

}  // namespace tessera::tokenizers
