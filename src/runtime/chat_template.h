#pragma once
// A model's chat template (tokenizer_config.json "chat_template", or chat_template.jinja as
// transformers 5 saves it) rendered as transformers' apply_chat_template renders it.
#include <string>
#include <vector>

#include "runtime/jinja/template.h"

namespace tessera {

struct ChatMessage {
  std::string role, content;
};

class ChatTemplate {
 public:
  // Throws when the directory has no chat template.
  static ChatTemplate from_model_dir(const std::string& dir);
  ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token);

  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // Any context: messages may carry more fields (tool calls, ...); extra variables are added.
  std::string render(const jinja::Value& messages, bool add_generation_prompt, jinja::Dict extra = {}) const;

 private:
  jinja::Template template_;
  std::string bos_token_, eos_token_;
};

}  // namespace tessera
