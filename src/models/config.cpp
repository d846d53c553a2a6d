#include "models/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/error.h"

namespace tessera {

struct ModelConfig::Json {
  nlohmann::json value;
};

ModelConfig::ModelConfig() : json_(std::make_unique<Json>()) {}
ModelConfig::~ModelConfig() = default;
ModelConfig::ModelConfig(ModelConfig&&) noexcept = default;

ModelConfig ModelConfig::load(const std::string& model_dir) {
  std::string path = model_dir + "/config.json";
  std::ifstream in(path);
  if (!in) fail("config", path + ": cannot open (is this a model directory?)");
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

ModelConfig ModelConfig::parse(const std::string& json_text, const std::string& source) {
  ModelConfig c;
  c.source_ = source;
  try {
    c.json_->value = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("config", source + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!c.json_->value.is_object()) fail("config", source + ": expected a JSON object");
  return c;
}

bool ModelConfig::has(const std::string& key) const {
  auto it = json_->value.find(key);
  return it != json_->value.end() && !it->is_null();
}

int64_t ModelConfig::get_int(const std::string& key) const {
  if (!has(key)) fail("config", source_ + ": missing \"" + key + "\"");
  const auto& v = json_->value[key];
  if (!v.is_number_integer()) fail("config", source_ + ": \"" + key + "\" must be an integer");
  return v.get<int64_t>();
}

int64_t ModelConfig::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

int64_t ModelConfig::get_positive_int(const std::string& key) const {
  int64_t v = get_int(key);
  if (v <= 0) fail("config", source_ + ": \"" + key + "\" must be positive");
  return v;
}

int64_t ModelConfig::get_positive_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_positive_int(key) : fallback;
}

double ModelConfig::get_float(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_->value[key];
  if (!v.is_number()) fail("config", source_ + ": \"" + key + "\" must be a number");
  return v.get<double>();
}

std::string ModelConfig::get_string(const std::string& key) const {
  if (!has(key)) fail("config", source_ + ": missing \"" + key + "\"");
  const auto& v = json_->value[key];
  if (!v.is_string()) fail("config", source_ + ": \"" + key + "\" must be a string");
  return v.get<std::string>();
}

std::string ModelConfig::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::vector<std::string> ModelConfig::get_strings(const std::string& key) const {
  if (!has(key)) return {};
  const auto& v = json_->value[key];
  if (!v.is_array()) fail("config", source_ + ": \"" + key + "\" must be a list of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) fail("config", source_ + ": \"" + key + "\" must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

bool ModelConfig::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_->value[key];
  if (!v.is_boolean()) fail("config", source_ + ": \"" + key + "\" must be true or false");
  return v.get<bool>();
}

std::vector<int64_t> ModelConfig::get_ints(const std::string& key) const {
  if (!has(key)) return {};
  const auto& v = json_->value[key];
  if (!v.is_array()) fail("config", source_ + ": \"" + key + "\" must be a list of integers");
  std::vector<int64_t> out;
  for (const auto& i : v) {
    if (!i.is_number_integer()) fail("config", source_ + ": \"" + key + "\" must be a list of integers");
    out.push_back(i.get<int64_t>());
  }
  return out;
}

std::optional<ModelConfig> ModelConfig::get_object(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = json_->value[key];
  if (!v.is_object()) fail("config", source_ + ": \"" + key + "\" must be an object");
  ModelConfig c;
  c.json_->value = v;
  c.source_ = source_ + " (" + key + ")";
  return c;
}

size_t ModelConfig::object_size(const std::string& key) const {
  if (!has(key)) return 0;
  const auto& v = json_->value[key];
  if (!v.is_object()) fail("config", source_ + ": \"" + key + "\" must be an object");
  return v.size();
}

}  // namespace tessera
