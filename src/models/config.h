#pragma once
// config.json as the models read it: typed getters with defaults and clear errors on wrong types.
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

class ModelConfig {
 public:
  static ModelConfig load(const std::string& model_dir);  // reads model_dir/config.json
  static ModelConfig parse(const std::string& json_text, const std::string& source);
  ~ModelConfig();
  ModelConfig(ModelConfig&&) noexcept;

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;  // required
  int64_t get_int(const std::string& key, int64_t fallback) const;
  // Sizes (vocab_size, hidden_size, ...): integers that must be > 0.
  int64_t get_positive_int(const std::string& key) const;
  int64_t get_positive_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key, double fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::vector<int64_t> get_ints(const std::string& key) const;  // empty when absent
  // An object-valued key (e.g. rope_scaling) as a config of its own; nullopt when absent.
  std::optional<ModelConfig> get_object(const std::string& key) const;
  // Number of entries of an object-valued key (e.g. id2label), 0 when absent.
  size_t object_size(const std::string& key) const;
  const std::string& source() const { return source_; }

 private:
  ModelConfig();
  struct Json;
  std::unique_ptr<Json> json_;
  std::string source_;
};

}  // namespace tessera
