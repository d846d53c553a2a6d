#include "runtime/jinja/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tessera::jinja {

namespace {

std::string python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Python's repr: the shortest text that round-trips, always with a '.' or exponent.
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

std::string python_string_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    if (c == quote || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out + quote;
}

}  // namespace

Value Value::shared_dict(Dict d) { return Value(std::move(d)); }

const Value* Value::find(const std::string& key) const {
  if (!is_dict()) return nullptr;
  for (const auto& [k, v] : as_dict())
    if (k == key) return &v;
  return nullptr;
}

void Value::set(const std::string& key, Value value) {
  Dict& d = mutable_dict();
  for (auto& [k, v] : d)
    if (k == key) {
      v = std::move(value);
      return;
    }
  d.emplace_back(key, std::move(value));
}

bool Value::truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int() != 0;
  if (is_float()) return as_number() != 0;
  if (is_string()) return !as_string().empty();
  if (is_list()) return !as_list().empty();
  return !as_dict().empty();
}

std::string Value::str() const {
  if (is_undefined()) return "";
  if (is_string()) return as_string();
  return repr();
}

std::string Value::repr() const {
  if (is_undefined()) return "";
  if (is_none()) return "None";
  if (is_bool()) return as_bool() ? "True" : "False";
  if (is_int()) return std::to_string(as_int());
  if (is_float()) return python_float(as_number());
  if (is_string()) return python_string_repr(as_string());
  std::string out;
  if (is_list()) {
    out = "[";
    for (size_t i = 0; i < as_list().size(); ++i) out += (i ? ", " : "") + as_list()[i].repr();
    return out + "]";
  }
  out = "{";
  for (size_t i = 0; i < as_dict().size(); ++i)
    out += (i ? ", " : "") + python_string_repr(as_dict()[i].first) + ": " + as_dict()[i].second.repr();
  return out + "}";
}

std::string Value::json(int indent, int depth) const {
  if (is_undefined() || is_none()) return "null";
  if (is_bool()) return as_bool() ? "true" : "false";
  if (is_int()) return std::to_string(as_int());
  if (is_float()) return python_float(as_number());
  if (is_string()) return json_string(as_string());
  bool list = is_list();
  size_t n = list ? as_list().size() : as_dict().size();
  if (n == 0) return list ? "[]" : "{}";
  std::string pad = indent >= 0 ? "\n" + std::string(size_t(indent * (depth + 1)), ' ') : "";
  std::string sep = indent >= 0 ? "," : ", ";
  std::string out = list ? "[" : "{";
  for (size_t i = 0; i < n; ++i) {
    out += (i ? sep : "") + pad;
    if (list) {
      out += as_list()[i].json(indent, depth + 1);
    } else {
      out += json_string(as_dict()[i].first) + ": " + as_dict()[i].second.json(indent, depth + 1);
    }
  }
  if (indent >= 0) out += "\n" + std::string(size_t(indent * depth), ' ');
  return out + (list ? "]" : "}");
}

bool Value::operator==(const Value& o) const {
  if (is_number() && o.is_number()) return as_number() == o.as_number();
  if (is_bool() && o.is_bool()) return as_bool() == o.as_bool();
  if (is_string() && o.is_string()) return as_string() == o.as_string();
  if ((is_none() && o.is_none()) || (is_undefined() && o.is_undefined())) return true;
  if (is_list() && o.is_list()) return as_list() == o.as_list();
  if (is_dict() && o.is_dict()) return as_dict() == o.as_dict();
  return false;
}

const char* Value::type_name() const {
  if (is_undefined()) return "undefined";
  if (is_none()) return "none";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "string";
  if (is_list()) return "list";
  return "dict";
}

}  // namespace tessera::jinja
