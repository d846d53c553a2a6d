#pragma once
// A Jinja2 interpreter for the subset chat templates use (Llama 3, Qwen2/3, Mistral, Gemma, ...),
// configured as transformers' apply_chat_template configures jinja2: trim_blocks, lstrip_blocks,
// loop controls. Statements: if/elif/else, for (with loop.*, else, an inline `if` filter,
// break/continue), set (including namespace attributes), macro, generation blocks. Expressions:
// literals, lists, dicts, attribute/item access and slices, calls of string/dict methods, filters,
// tests (is defined, is string, ...), arithmetic, `~` and `+` concatenation, comparisons, in,
// and/or/not, conditional expressions. Templates are parsed once and rendered many times.
#include <memory>
#include <string>

#include "runtime/jinja/value.h"

namespace tessera::jinja {

struct Node;

class Template {
 public:
  explicit Template(const std::string& source);  // throws tessera::Error on a syntax error
  ~Template();
  Template(Template&&) noexcept;
  // `context` is a dict of the template's variables; raise_exception() in the template throws
  // tessera::Error with its message.
  std::string render(const Value& context) const;

 private:
  std::shared_ptr<Node> root_;
};

}  // namespace tessera::jinja
