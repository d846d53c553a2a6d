#pragma once
// Values of the Jinja subset that chat templates use, with Python's semantics where templates
// can observe them (truthiness, str(), ==, json.dumps for tojson).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace tessera::jinja {

class Value;
using List = std::vector<Value>;
// Insertion-ordered, as Python dicts (tojson and items() follow it).
using Dict = std::vector<std::pair<std::string, Value>>;

struct Undefined {};
struct None {};

class Value {
 public:
  Value() : v_(Undefined{}) {}
  Value(None) : v_(None{}) {}
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(int64_t(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(List l) : v_(std::make_shared<List>(std::move(l))) {}
  Value(Dict d) : v_(std::make_shared<Dict>(std::move(d))) {}
  // A mutable shared dict (namespace()): assignments through any copy are seen by all.
  static Value shared_dict(Dict d);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<List>>(v_); }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<Dict>>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_number() const { return is_int() ? double(as_int()) : is_bool() ? double(as_bool()) : std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const List& as_list() const { return *std::get<std::shared_ptr<List>>(v_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(v_); }
  Dict& mutable_dict() { return *std::get<std::shared_ptr<Dict>>(v_); }

  const Value* find(const std::string& key) const;  // dict lookup, nullptr when absent
  void set(const std::string& key, Value value);    // dict insert or replace

  bool truthy() const;
  std::string str() const;    // Python str()
  std::string repr() const;   // Python repr()
  std::string json(int indent = -1, int depth = 0) const;  // json.dumps(ensure_ascii=False)
  bool operator==(const Value& other) const;
  const char* type_name() const;

 private:
  std::variant<Undefined, None, bool, int64_t, double, std::string, std::shared_ptr<List>, std::shared_ptr<Dict>> v_;
};

}  // namespace tessera::jinja
