#include "runtime/chat_template.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/error.h"

namespace tessera {

namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Special tokens are strings or AddedToken objects {"content": ...}.
std::string token_text(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const nlohmann::json& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
  return "";
}

}  // namespace

ChatTemplate ChatTemplate::from_model_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  nlohmann::json config = nlohmann::json::object();
  fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(config_path)) {
    config = nlohmann::json::parse(read_all(config_path), nullptr, false);
    TESSERA_CHECK(!config.is_discarded() && config.is_object(), "chat template", config_path.string() + ": not valid JSON");
  }
  std::string source;
  if (fs::exists(fs::path(dir) / "chat_template.jinja")) {
    source = read_all(fs::path(dir) / "chat_template.jinja");
  } else if (config.contains("chat_template") && config["chat_template"].is_string()) {
    source = config["chat_template"].get<std::string>();
  } else if (config.contains("chat_template") && config["chat_template"].is_array()) {
    for (const auto& named : config["chat_template"])  // [{"name": "default", "template": ...}, ...]
      if (named.value("name", "") == "default") source = named.value("template", "");
  }
  TESSERA_CHECK(!source.empty(), "chat template", dir + ": the model has no chat template");
  return ChatTemplate(source, token_text(config, "bos_token"), token_text(config, "eos_token"));
}

ChatTemplate::ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token)
    : template_(source), bos_token_(std::move(bos_token)), eos_token_(std::move(eos_token)) {}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  jinja::List list;
  for (const ChatMessage& m : messages) list.push_back(jinja::Dict{{"role", m.role}, {"content", m.content}});
  return render(jinja::Value(list), add_generation_prompt);
}

std::string ChatTemplate::render(const jinja::Value& messages, bool add_generation_prompt, jinja::Dict extra) const {
  // What transformers passes: the messages, tools/documents (None without them), the flag, and
  // the special tokens.
  jinja::Dict context = {{"messages", messages},
                         {"tools", jinja::None{}},
                         {"documents", jinja::None{}},
                         {"add_generation_prompt", add_generation_prompt},
                         {"bos_token", bos_token_},
                         {"eos_token", eos_token_}};
  jinja::Value ctx(context);
  for (auto& [k, v] : extra) ctx.set(k, std::move(v));
  return template_.render(ctx);
}

}  // namespace tessera
