#include "runtime/jinja/template.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "tessera/error.h"

namespace tessera::jinja {

namespace {

[[noreturn]] void syntax_error(const std::string& message) { fail("chat template", message); }

// ---------------------------------------------------------------- expressions

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum Kind { literal, name, attr, item, slice, call, filter, test, unary, binary, conditional, list, dict } kind;
  Value value;                 // literal
  std::string id;              // name, attribute, filter, test, operator
  std::vector<ExprPtr> args;   // operands, call/filter/test arguments, list items, dict keys+values
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;        // `is not`
};

ExprPtr make(Expr::Kind kind, std::string id = {}, std::vector<ExprPtr> args = {}) {
  auto e = std::make_shared<Expr>();
  e->kind = kind;
  e->id = std::move(id);
  e->args = std::move(args);
  return e;
}

struct Token {
  enum Kind { name, number, string, op, end } kind;
  std::string text;
  Value value;
};

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::name, s.substr(i, j - i), {}});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) ||
                              (s[j] == '.' && !is_float && j + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[j + 1]))))) {
        is_float |= s[j] == '.';
        ++j;
      }
      std::string text = s.substr(i, j - i);
      out.push_back({Token::number, text, is_float ? Value(std::stod(text)) : Value(int64_t(std::stoll(text)))});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string value;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          char e = s[++j];
          value += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          value += s[j];
        }
      }
      if (j >= s.size()) syntax_error("unterminated string literal");
      out.push_back({Token::string, value, Value(value)});
      i = j + 1;
    } else {
      static const char* const two[] = {"==", "!=", "<=", ">=", "//", "**"};
      std::string op(1, c);
      for (const char* t : two)
        if (s.compare(i, 2, t) == 0) op = t;
      if (std::string("()[]{}.,:|~+-*/%<>=!").find(c) == std::string::npos)
        syntax_error(std::string("unexpected character '") + c + "'");
      out.push_back({Token::op, op, {}});
      i += op.size();
    }
  }
  out.push_back({Token::end, "", {}});
  return out;
}

class ExprParser {
 public:
  explicit ExprParser(const std::string& text) : tokens_(tokenize(text)) {}

  ExprPtr expression() {
    ExprPtr e = or_expr();
    if (is_name("if")) {  // a if cond else b
      ++pos_;
      ExprPtr cond = or_expr();
      ExprPtr otherwise = is_name("else") ? (++pos_, expression()) : make(Expr::literal);
      return make(Expr::conditional, {}, {e, cond, otherwise});
    }
    return e;
  }
  bool at_end() const { return peek().kind == Token::end; }
  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  bool is_name(const char* n, size_t ahead = 0) const { return peek(ahead).kind == Token::name && peek(ahead).text == n; }
  bool is_op(const char* o) const { return peek().kind == Token::op && peek().text == o; }
  std::string take_name() {
    if (peek().kind != Token::name) syntax_error("expected a name, got '" + peek().text + "'");
    return tokens_[pos_++].text;
  }
  void expect_op(const char* o) {
    if (!is_op(o)) syntax_error(std::string("expected '") + o + "', got '" + peek().text + "'");
    ++pos_;
  }
  void expect_end() {
    if (!at_end()) syntax_error("unexpected '" + peek().text + "'");
  }
  // Without the conditional (the `if` of `for x in xs if cond` belongs to the loop).
  ExprPtr or_expr() {
    ExprPtr e = and_expr();
    while (is_name("or")) ++pos_, e = make(Expr::binary, "or", {e, and_expr()});
    return e;
  }

 private:
  ExprPtr and_expr() {
    ExprPtr e = not_expr();
    while (is_name("and")) ++pos_, e = make(Expr::binary, "and", {e, not_expr()});
    return e;
  }
  ExprPtr not_expr() {
    if (is_name("not")) return ++pos_, make(Expr::unary, "not", {not_expr()});
    return compare();
  }
  ExprPtr compare() {
    ExprPtr e = math1();
    while (true) {
      if (peek().kind == Token::op && (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">="))) {
        std::string op = tokens_[pos_++].text;
        e = make(Expr::binary, op, {e, math1()});
      } else if (is_name("in")) {
        ++pos_;
        e = make(Expr::binary, "in", {e, math1()});
      } else if (is_name("not") && is_name("in", 1)) {
        pos_ += 2;
        e = make(Expr::unary, "not", {make(Expr::binary, "in", {e, math1()})});
      } else {
        return e;
      }
    }
  }
  ExprPtr math1() {
    ExprPtr e = concat();
    while (is_op("+") || is_op("-")) {
      std::string op = tokens_[pos_++].text;
      e = make(Expr::binary, op, {e, concat()});
    }
    return e;
  }
  ExprPtr concat() {
    ExprPtr e = math2();
    while (is_op("~")) ++pos_, e = make(Expr::binary, "~", {e, math2()});
    return e;
  }
  ExprPtr math2() {
    ExprPtr e = power();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = tokens_[pos_++].text;
      e = make(Expr::binary, op, {e, power()});
    }
    return e;
  }
  ExprPtr power() {
    ExprPtr e = unary();
    while (is_op("**")) ++pos_, e = make(Expr::binary, "**", {e, unary()});
    return e;
  }
  ExprPtr unary() {
    if (is_op("-")) return ++pos_, make(Expr::unary, "-", {unary()});
    if (is_op("+")) return ++pos_, unary();
    return filters(postfix(primary()));
  }
  void call_arguments(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Token::name && peek(1).kind == Token::op && peek(1).text == "=") {
        std::string key = take_name();
        ++pos_;
        e.kwargs.emplace_back(key, expression());
      } else {
        e.args.push_back(expression());
      }
      if (!is_op(")")) expect_op(",");
    }
    ++pos_;
  }
  ExprPtr filters(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        ++pos_;
        ExprPtr f = make(Expr::filter, take_name(), {e});
        if (is_op("(")) call_arguments(*f);
        e = postfix(f);
      } else if (is_name("is")) {
        ++pos_;
        bool negated = is_name("not") && (++pos_, true);
        ExprPtr t = make(Expr::test, take_name(), {e});
        t->negated = negated;
        if (is_op("(")) {
          call_arguments(*t);
        } else if (peek().kind == Token::number || peek().kind == Token::string ||
                   (peek().kind == Token::name && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("is"))) {
          t->args.push_back(primary());  // `is divisibleby 3`, `is equalto 'x'`
        }
        e = t;
      } else {
        return e;
      }
    }
  }
  ExprPtr postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        ++pos_;
        e = make(Expr::attr, take_name(), {e});
      } else if (is_op("[")) {
        ++pos_;
        std::vector<ExprPtr> parts(3);
        bool is_slice = false;
        for (int part = 0; part < 3; ++part) {
          if (!is_op(":") && !is_op("]")) parts[size_t(part)] = expression();
          if (!is_op(":")) break;
          ++pos_;
          is_slice = true;
        }
        expect_op("]");
        e = is_slice ? make(Expr::slice, {}, {e, parts[0], parts[1], parts[2]}) : make(Expr::item, {}, {e, parts[0]});
      } else if (is_op("(")) {
        ExprPtr c = make(Expr::call, {}, {e});
        call_arguments(*c);
        e = c;
      } else {
        return e;
      }
    }
  }
  ExprPtr primary() {
    const Token& t = peek();
    if (t.kind == Token::number || t.kind == Token::string) {
      ExprPtr e = make(Expr::literal);
      e->value = tokens_[pos_++].value;
      // Adjacent string literals concatenate, as in Python.
      while (e->value.is_string() && peek().kind == Token::string)
        e->value = Value(e->value.as_string() + tokens_[pos_++].value.as_string());
      return e;
    }
    if (t.kind == Token::name) {
      std::string n = tokens_[pos_++].text;
      ExprPtr e = make(Expr::literal);
      if (n == "true" || n == "True") e->value = true;
      else if (n == "false" || n == "False") e->value = false;
      else if (n == "none" || n == "None") e->value = None{};
      else return make(Expr::name, n);
      return e;
    }
    if (is_op("(")) {
      ++pos_;
      ExprPtr e = expression();
      if (is_op(",")) {  // a tuple: a list to us
        ExprPtr l = make(Expr::list, {}, {e});
        while (is_op(",")) {
          ++pos_;
          if (is_op(")")) break;
          l->args.push_back(expression());
        }
        e = l;
      }
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      ++pos_;
      ExprPtr l = make(Expr::list);
      while (!is_op("]")) {
        l->args.push_back(expression());
        if (!is_op("]")) expect_op(",");
      }
      ++pos_;
      return l;
    }
    if (is_op("{")) {
      ++pos_;
      ExprPtr d = make(Expr::dict);
      while (!is_op("}")) {
        d->args.push_back(expression());
        expect_op(":");
        d->args.push_back(expression());
        if (!is_op("}")) expect_op(",");
      }
      ++pos_;
      return d;
    }
    syntax_error("unexpected '" + t.text + "' in an expression");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

// ---------------------------------------------------------------- statements

struct Node {
  enum Kind { raw, output, if_, for_, set, set_block, macro, break_, continue_, block } kind;
  std::string text;                      // text; set target; macro name
  std::string attribute;                 // set ns.attribute
  std::vector<std::string> names;        // for targets; macro parameters
  std::vector<ExprPtr> exprs;            // output; if conditions; for iterable (+ filter); set value; macro defaults
  std::vector<std::shared_ptr<Node>> bodies;  // if branches (+ else); for body (+ else); set/macro body
  std::vector<std::shared_ptr<Node>> children;  // block
};

namespace {

using NodePtr = std::shared_ptr<Node>;

NodePtr node(Node::Kind kind) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  return n;
}

struct Piece {
  enum Kind { text, expr, stmt } kind;
  std::string content;
};

// Splits the source into text, {{ expressions }} and {% statements %}, applying whitespace
// control as transformers' jinja2 environment does (trim_blocks, lstrip_blocks, `-` markers).
std::vector<Piece> split_pieces(const std::string& src) {
  std::vector<Piece> pieces;
  size_t i = 0;
  bool strip_next = false, trim_newline = false;
  while (i <= src.size()) {
    size_t open = src.find('{', i);
    while (open != std::string::npos && open + 1 < src.size() && std::string("{%#").find(src[open + 1]) == std::string::npos)
      open = src.find('{', open + 1);
    if (open != std::string::npos && open + 1 >= src.size()) open = std::string::npos;
    std::string text = src.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (strip_next) {
      size_t k = 0;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      text.erase(0, k);
    } else if (trim_newline && !text.empty() && text[0] == '\n') {
      text.erase(0, 1);
    }
    if (open == std::string::npos) {
      pieces.push_back({Piece::text, text});
      break;
    }
    char kind = src[open + 1];
    bool minus = open + 2 < src.size() && src[open + 2] == '-';
    bool plus = open + 2 < src.size() && src[open + 2] == '+';
    if (minus) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    } else if (kind != '{' && !plus) {
      // lstrip_blocks: spaces and tabs between a line start and a block tag go.
      size_t run = 0;  // judged in the source: the text may have lost its newline to trim_blocks
      while (run < open && run < text.size() && (src[open - run - 1] == ' ' || src[open - run - 1] == '\t')) ++run;
      if (open - run == 0 || src[open - run - 1] == '\n') text.erase(text.size() - run);
    }
    pieces.push_back({Piece::text, text});
    std::string closer = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t body = open + 2 + (minus || plus);
    size_t close = body;
    char quote = 0;
    for (; close + 1 < src.size(); ++close) {
      char c = src[close];
      if (kind != '#') {
        if (quote) {
          if (c == '\\') ++close;
          else if (c == quote) quote = 0;
          continue;
        }
        if (c == '\'' || c == '"') {
          quote = c;
          continue;
        }
      }
      if (src.compare(close, 2, closer) == 0) break;
    }
    if (close + 1 >= src.size()) syntax_error("unclosed '{" + std::string(1, kind) + "'");
    bool close_minus = close > body && src[close - 1] == '-';
    std::string content = src.substr(body, close - body - (close_minus ? 1 : 0));
    if (kind != '#') pieces.push_back({kind == '{' ? Piece::expr : Piece::stmt, content});
    strip_next = close_minus;
    trim_newline = kind != '{';
    i = close + 2;
  }
  return pieces;
}

class StmtParser {
 public:
  explicit StmtParser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  // Parses until one of `terminators` (statement keywords) and returns the block; `stopped_at`
  // is the terminating statement's text.
  NodePtr block(const std::vector<std::string>& terminators, std::string* stopped_at) {
    NodePtr b = node(Node::block);
    while (pos_ < pieces_.size()) {
      const Piece& p = pieces_[pos_++];
      if (p.kind == Piece::text) {
        if (!p.content.empty()) {
          NodePtr t = node(Node::raw);
          t->text = p.content;
          b->children.push_back(t);
        }
        continue;
      }
      if (p.kind == Piece::expr) {
        ExprParser e(p.content);
        NodePtr o = node(Node::output);
        o->exprs.push_back(e.expression());
        e.expect_end();
        b->children.push_back(o);
        continue;
      }
      ExprParser s(p.content);
      std::string keyword = s.take_name();
      if (std::find(terminators.begin(), terminators.end(), keyword) != terminators.end()) {
        if (stopped_at) *stopped_at = p.content;
        return b;
      }
      b->children.push_back(statement(keyword, s));
    }
    if (!terminators.empty()) syntax_error("missing {% " + terminators.back() + " %}");
    return b;
  }

 private:
  NodePtr statement(const std::string& keyword, ExprParser& s) {
    if (keyword == "if") {
      NodePtr n = node(Node::if_);
      n->exprs.push_back(s.expression());
      s.expect_end();
      while (true) {
        std::string stop;
        n->bodies.push_back(block({"elif", "else", "endif"}, &stop));
        ExprParser t(stop);
        std::string k = t.take_name();
        if (k == "endif") break;
        if (k == "else") {
          n->bodies.push_back(block({"endif"}, nullptr));
          break;
        }
        n->exprs.push_back(t.expression());
      }
      return n;
    }
    if (keyword == "for") {
      NodePtr n = node(Node::for_);
      n->names.push_back(s.take_name());
      while (s.is_op(",")) s.expect_op(","), n->names.push_back(s.take_name());
      if (!s.is_name("in")) syntax_error("expected 'in' in a for loop");
      s.take_name();
      n->exprs.push_back(s.or_expr());
      if (s.is_name("if")) s.take_name(), n->exprs.push_back(s.expression());
      if (s.is_name("recursive")) syntax_error("recursive loops are not supported");
      s.expect_end();
      std::string stop;
      n->bodies.push_back(block({"else", "endfor"}, &stop));
      if (ExprParser(stop).take_name() == "else") n->bodies.push_back(block({"endfor"}, nullptr));
      return n;
    }
    if (keyword == "set") {
      std::string target = s.take_name();
      std::string attribute;
      if (s.is_op(".")) s.expect_op("."), attribute = s.take_name();
      if (s.at_end()) {  // {% set x %}...{% endset %}
        NodePtr n = node(Node::set_block);
        n->text = target;
        n->bodies.push_back(block({"endset"}, nullptr));
        return n;
      }
      NodePtr n = node(Node::set);
      n->text = target;
      n->attribute = attribute;
      s.expect_op("=");
      n->exprs.push_back(s.expression());
      s.expect_end();
      return n;
    }
    if (keyword == "macro") {
      NodePtr n = node(Node::macro);
      n->text = s.take_name();
      s.expect_op("(");
      while (!s.is_op(")")) {
        n->names.push_back(s.take_name());
        ExprPtr fallback;
        if (s.is_op("=")) s.expect_op("="), fallback = s.expression();
        n->exprs.push_back(fallback);
        if (!s.is_op(")")) s.expect_op(",");
      }
      n->bodies.push_back(block({"endmacro"}, nullptr));
      return n;
    }
    if (keyword == "generation") {  // transformers' assistant-mask marker: renders its body
      NodePtr body = block({"endgeneration"}, nullptr);
      return body;
    }
    if (keyword == "break") return node(Node::break_);
    if (keyword == "continue") return node(Node::continue_);
    syntax_error("unsupported statement '" + keyword + "'");
  }

  std::vector<Piece> pieces_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------- rendering

enum class Flow { normal, break_, continue_ };

struct Macro {
  NodePtr definition;
};

class Renderer {
 public:
  explicit Renderer(const Value& context) { scopes_.push_back({}); globals_ = &context; }

  Flow render(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::raw: out += n.text; return Flow::normal;
      case Node::output: out += eval(*n.exprs[0]).str(); return Flow::normal;
      case Node::block:
        for (const NodePtr& c : n.children)
          if (Flow f = render(*c, out); f != Flow::normal) return f;
        return Flow::normal;
      case Node::if_:
        for (size_t i = 0; i < n.bodies.size(); ++i)
          if (i >= n.exprs.size() || eval(*n.exprs[i]).truthy()) return render(*n.bodies[i], out);
        return Flow::normal;
      case Node::for_: return render_for(n, out);
      case Node::set: {
        Value v = eval(*n.exprs[0]);
        if (n.attribute.empty()) {
          scopes_.back()[n.text] = v;
        } else {
          Value target = lookup(n.text);
          if (!target.is_dict()) fail("chat template", "cannot set an attribute of " + n.text);
          target.set(n.attribute, v);
        }
        return Flow::normal;
      }
      case Node::set_block: {
        std::string captured;
        render(*n.bodies[0], captured);
        scopes_.back()[n.text] = Value(captured);
        return Flow::normal;
      }
      case Node::macro: macros_[n.text] = {std::make_shared<Node>(n)}; return Flow::normal;
      case Node::break_: return Flow::break_;
      case Node::continue_: return Flow::continue_;
    }
    return Flow::normal;
  }

 private:
  Flow render_for(const Node& n, std::string& out) {
    Value iterable = eval(*n.exprs[0]);
    List items;
    if (iterable.is_list()) {
      items = iterable.as_list();
    } else if (iterable.is_dict()) {
      for (const auto& [k, v] : iterable.as_dict()) items.push_back(Value(k));
    } else if (iterable.is_string()) {
      for (char c : iterable.as_string()) items.push_back(Value(std::string(1, c)));
    } else if (!iterable.is_undefined() && !iterable.is_none()) {
      fail("chat template", std::string("cannot loop over a ") + iterable.type_name());
    }
    auto bind = [&](std::map<std::string, Value>& scope, const Value& item) {
      if (n.names.size() == 1) {
        scope[n.names[0]] = item;
        return;
      }
      if (!item.is_list() || item.as_list().size() != n.names.size()) fail("chat template", "cannot unpack loop item");
      for (size_t i = 0; i < n.names.size(); ++i) scope[n.names[i]] = item.as_list()[i];
    };
    if (n.exprs.size() > 1) {  // for x in xs if cond: filter first, so loop.* counts what is kept
      List kept;
      for (const Value& item : items) {
        scopes_.push_back({});
        bind(scopes_.back(), item);
        bool keep = eval(*n.exprs[1]).truthy();
        scopes_.pop_back();
        if (keep) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return n.bodies.size() > 1 ? render(*n.bodies[1], out) : Flow::normal;
    int64_t len = int64_t(items.size());
    for (int64_t i = 0; i < len; ++i) {
      scopes_.push_back({});
      bind(scopes_.back(), items[size_t(i)]);
      scopes_.back()["loop"] = Value(Dict{{"index", i + 1}, {"index0", i}, {"revindex", len - i},
                                          {"revindex0", len - i - 1}, {"first", i == 0}, {"last", i == len - 1},
                                          {"length", len},
                                          {"previtem", i > 0 ? items[size_t(i - 1)] : Value()},
                                          {"nextitem", i + 1 < len ? items[size_t(i + 1)] : Value()}});
      Flow f = render(*n.bodies[0], out);
      scopes_.pop_back();
      if (f == Flow::break_) break;
    }
    return Flow::normal;
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(name); f != it->end()) return f->second;
    if (const Value* v = globals_->find(name)) return *v;
    return Value();
  }

  static int64_t to_int(const Value& v, const char* what) {
    if (v.is_int()) return v.as_int();
    if (v.is_bool()) return v.as_bool();
    fail("chat template", std::string(what) + " must be an integer");
  }

  static Value subscript(const Value& obj, const Value& key) {
    if (obj.is_dict() && key.is_string()) {
      const Value* v = obj.find(key.as_string());
      return v ? *v : Value();
    }
    if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
      int64_t n = obj.is_list() ? int64_t(obj.as_list().size()) : int64_t(obj.as_string().size());
      int64_t i = to_int(key, "index");
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value();
      return obj.is_list() ? obj.as_list()[size_t(i)] : Value(std::string(1, obj.as_string()[size_t(i)]));
    }
    return Value();
  }

  Value slice(const Value& obj, const Expr& e) {
    auto bound = [&](const ExprPtr& p) -> std::optional<int64_t> {
      if (!p) return std::nullopt;
      Value v = eval(*p);
      if (v.is_none()) return std::nullopt;
      return to_int(v, "slice bound");
    };
    std::optional<int64_t> start = bound(e.args[1]), stop = bound(e.args[2]), step_opt = bound(e.args[3]);
    int64_t step = step_opt.value_or(1);
    if (step == 0) fail("chat template", "slice step cannot be zero");
    int64_t n = obj.is_list() ? int64_t(obj.as_list().size()) : obj.is_string() ? int64_t(obj.as_string().size()) : 0;
    auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
      if (!v) return fallback;
      int64_t x = *v < 0 ? *v + n : *v;
      return step > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
    };
    int64_t b = clamp(start, step > 0 ? 0 : n - 1), en = clamp(stop, step > 0 ? n : -1);
    List items;
    std::string chars;
    for (int64_t i = b; step > 0 ? i < en : i > en; i += step) {
      if (obj.is_list()) items.push_back(obj.as_list()[size_t(i)]);
      else chars += obj.as_string()[size_t(i)];
    }
    return obj.is_string() ? Value(chars) : Value(items);
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::literal: return e.value;
      case Expr::name: return lookup(e.id);
      case Expr::list: {
        List l;
        for (const ExprPtr& a : e.args) l.push_back(eval(*a));
        return l;
      }
      case Expr::dict: {
        Value d = Value(Dict{});
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.set(eval(*e.args[i]).str(), eval(*e.args[i + 1]));
        return d;
      }
      case Expr::attr: {
        Value obj = eval(*e.args[0]);
        if (const Value* v = obj.find(e.id)) return *v;
        return Value();
      }
      case Expr::item: return subscript(eval(*e.args[0]), eval(*e.args[1]));
      case Expr::slice: return slice(eval(*e.args[0]), e);
      case Expr::call: return call(e);
      case Expr::filter: return filter(e);
      case Expr::test: {
        bool r = test(e);
        return e.negated ? !r : r;
      }
      case Expr::unary: {
        Value v = eval(*e.args[0]);
        if (e.id == "not") return !v.truthy();
        if (v.is_int()) return -v.as_int();
        if (v.is_number()) return -v.as_number();
        fail("chat template", std::string("cannot negate a ") + v.type_name());
      }
      case Expr::conditional: return eval(*e.args[1]).truthy() ? eval(*e.args[0]) : eval(*e.args[2]);
      case Expr::binary: return binary(e);
    }
    return Value();
  }

  Value binary(const Expr& e) {
    if (e.id == "and") {
      Value l = eval(*e.args[0]);
      return l.truthy() ? eval(*e.args[1]) : l;
    }
    if (e.id == "or") {
      Value l = eval(*e.args[0]);
      return l.truthy() ? l : eval(*e.args[1]);
    }
    Value l = eval(*e.args[0]), r = eval(*e.args[1]);
    const std::string& op = e.id;
    if (op == "~") return l.str() + r.str();
    if (op == "==") return l == r;
    if (op == "!=") return !(l == r);
    if (op == "in") {
      if (r.is_string()) return r.as_string().find(l.str()) != std::string::npos;
      if (r.is_list()) return std::find(r.as_list().begin(), r.as_list().end(), l) != r.as_list().end();
      if (r.is_dict()) return l.is_string() && r.find(l.as_string()) != nullptr;
      return false;
    }
    if (op == "+" && l.is_string() && r.is_string()) return l.as_string() + r.as_string();
    if (op == "+" && l.is_list() && r.is_list()) {
      List out = l.as_list();
      out.insert(out.end(), r.as_list().begin(), r.as_list().end());
      return out;
    }
    if (op == "*" && l.is_string() && r.is_int()) {
      std::string out;
      for (int64_t i = 0; i < r.as_int(); ++i) out += l.as_string();
      return out;
    }
    if (l.is_string() && r.is_string()) {
      if (op == "<") return l.as_string() < r.as_string();
      if (op == ">") return l.as_string() > r.as_string();
      if (op == "<=") return l.as_string() <= r.as_string();
      if (op == ">=") return l.as_string() >= r.as_string();
    }
    if (!(l.is_number() || l.is_bool()) || !(r.is_number() || r.is_bool()))
      fail("chat template", "unsupported operand types for " + op + ": " + l.type_name() + " and " + r.type_name());
    double a = l.as_number(), b = r.as_number();
    bool ints = !l.is_float() && !r.is_float();
    if (op == "<") return a < b;
    if (op == ">") return a > b;
    if (op == "<=") return a <= b;
    if (op == ">=") return a >= b;
    if (op == "/") return a / b;
    if ((op == "//" || op == "%") && b == 0) fail("chat template", "division by zero");
    if (ints) {
      int64_t x = int64_t(a), y = int64_t(b);
      if (op == "+") return x + y;
      if (op == "-") return x - y;
      if (op == "*") return x * y;
      if (op == "//") return x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
      if (op == "%") return ((x % y) + y) % y;
    }
    if (op == "+") return a + b;
    if (op == "-") return a - b;
    if (op == "*") return a * b;
    if (op == "//") return std::floor(a / b);
    if (op == "%") return a - std::floor(a / b) * b;
    if (op == "**") return ints && b >= 0 ? Value(int64_t(std::llround(std::pow(a, b)))) : Value(std::pow(a, b));
    fail("chat template", "unsupported operator " + op);
  }

  std::vector<Value> arguments(const Expr& e, size_t first = 0) {
    std::vector<Value> args;
    for (size_t i = first; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    return args;
  }
  Value kwarg(const Expr& e, const std::string& name) {
    for (const auto& [k, v] : e.kwargs)
      if (k == name) return eval(*v);
    return Value();
  }

  static std::string strip(const std::string& s, const std::string& chars, bool left, bool right) {
    size_t b = 0, en = s.size();
    if (left) while (b < en && chars.find(s[b]) != std::string::npos) ++b;
    if (right) while (en > b && chars.find(s[en - 1]) != std::string::npos) --en;
    return s.substr(b, en - b);
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    std::vector<Value> args = arguments(e, 1);
    if (callee.kind == Expr::attr) return method(eval(*callee.args[0]), callee.id, args);
    if (callee.kind != Expr::name) fail("chat template", "this expression cannot be called");
    const std::string& f = callee.id;
    if (f == "raise_exception") fail("chat template", args.empty() ? "raise_exception" : args[0].str());
    if (f == "namespace") {
      Value ns = Value::shared_dict({});
      for (const auto& [k, v] : e.kwargs) ns.set(k, eval(*v));
      return ns;
    }
    if (f == "range") {
      int64_t start = 0, stop = 0, step = 1;
      if (args.size() == 1) stop = to_int(args[0], "range");
      else if (args.size() >= 2) start = to_int(args[0], "range"), stop = to_int(args[1], "range");
      if (args.size() == 3) step = to_int(args[2], "range");
      if (step == 0) fail("chat template", "range step cannot be zero");
      List l;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) l.push_back(i);
      return l;
    }
    if (f == "strftime_now") {
      std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      char buf[128];
      std::tm tm = *std::localtime(&now);
      std::strftime(buf, sizeof buf, args.empty() ? "" : args[0].str().c_str(), &tm);
      return std::string(buf);
    }
    if (f == "dict") {
      Value d = Value(Dict{});
      for (const auto& [k, v] : e.kwargs) d.set(k, eval(*v));
      return d;
    }
    if (auto m = macros_.find(f); m != macros_.end()) {
      const Node& def = *m->second.definition;
      std::map<std::string, Value> scope;
      for (size_t i = 0; i < def.names.size(); ++i) {
        Value v = i < args.size() ? args[i] : def.exprs[i] ? eval(*def.exprs[i]) : Value();
        for (const auto& [k, kv] : e.kwargs)
          if (k == def.names[i]) v = eval(*kv);
        scope[def.names[i]] = v;
      }
      scopes_.push_back(std::move(scope));
      std::string out;
      render(*def.bodies[0], out);
      scopes_.pop_back();
      return out;
    }
    fail("chat template", "unknown function '" + f + "'");
  }

  Value method(const Value& obj, const std::string& m, const std::vector<Value>& args) {
    const std::string kSpace = " \t\n\r\f\v";
    if (obj.is_string()) {
      const std::string& s = obj.as_string();
      std::string chars = args.empty() || args[0].is_none() ? kSpace : args[0].str();
      if (m == "strip") return strip(s, chars, true, true);
      if (m == "lstrip") return strip(s, chars, true, false);
      if (m == "rstrip") return strip(s, chars, false, true);
      if (m == "upper" || m == "lower") {
        std::string out = s;
        for (char& c : out) c = char(m == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
        return out;
      }
      if (m == "startswith" && !args.empty()) return s.rfind(args[0].str(), 0) == 0;
      if (m == "endswith" && !args.empty()) return std::string_view(s).ends_with(args[0].str());
      if (m == "replace" && args.size() >= 2) return replace(s, args[0].str(), args[1].str());
      if (m == "split") return split(s, args.empty() || args[0].is_none() ? std::optional<std::string>() : args[0].str());
      if (m == "title") return filter_value("title", obj, {});
      if (m == "capitalize") return filter_value("capitalize", obj, {});
      if (m == "find" && !args.empty()) {
        size_t p = s.find(args[0].str());
        return p == std::string::npos ? int64_t(-1) : int64_t(p);
      }
    }
    if (obj.is_dict()) {
      if (m == "items") {
        List l;
        for (const auto& [k, v] : obj.as_dict()) l.push_back(List{Value(k), v});
        return l;
      }
      if (m == "keys" || m == "values") {
        List l;
        for (const auto& [k, v] : obj.as_dict()) l.push_back(m == "keys" ? Value(k) : v);
        return l;
      }
      if (m == "get" && !args.empty()) {
        const Value* v = obj.find(args[0].str());
        return v ? *v : args.size() > 1 ? args[1] : Value(None{});
      }
    }
    fail("chat template", std::string("unknown method ") + obj.type_name() + "." + m + "()");
  }

  static std::string replace(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
    return s;
  }

  static Value split(const std::string& s, const std::optional<std::string>& sep) {
    List parts;
    if (!sep) {  // Python's split(): runs of whitespace, no empty parts
      std::string cur;
      for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
          if (!cur.empty()) parts.push_back(cur), cur.clear();
        } else {
          cur += c;
        }
      }
      if (!cur.empty()) parts.push_back(cur);
      return parts;
    }
    if (sep->empty()) fail("chat template", "empty separator");
    size_t start = 0;
    for (size_t p = s.find(*sep); p != std::string::npos; p = s.find(*sep, start)) {
      parts.push_back(s.substr(start, p - start));
      start = p + sep->size();
    }
    parts.push_back(s.substr(start));
    return parts;
  }

  Value filter(const Expr& e) {
    Value v = eval(*e.args[0]);
    std::vector<Value> args = arguments(e, 1);
    if (e.id == "tojson") {
      Value indent = kwarg(e, "indent");
      if (indent.is_undefined() && !args.empty()) indent = args[0];
      return v.json(indent.is_int() ? int(indent.as_int()) : -1);
    }
    if (e.id == "default" || e.id == "d") {
      bool boolean = (args.size() > 1 && args[1].truthy()) || kwarg(e, "boolean").truthy();
      bool use_default = v.is_undefined() || (boolean && !v.truthy());
      return use_default ? (args.empty() ? Value(std::string()) : args[0]) : v;
    }
    if (e.id == "selectattr" || e.id == "rejectattr") {
      if (!v.is_list() || args.empty()) return List{};
      List out;
      for (const Value& item : v.as_list()) {
        const Value* attr = item.find(args[0].str());
        Value a = attr ? *attr : Value();
        bool ok = args.size() < 2 ? a.truthy() : test_value(args[1].str(), a, std::vector<Value>(args.begin() + 2, args.end()));
        if (ok == (e.id == "selectattr")) out.push_back(item);
      }
      return out;
    }
    if (e.id == "select" || e.id == "reject") {
      List out;
      if (v.is_list())
        for (const Value& item : v.as_list()) {
          bool ok = args.empty() ? item.truthy()
                                 : test_value(args[0].str(), item, std::vector<Value>(args.begin() + 1, args.end()));
          if (ok == (e.id == "select")) out.push_back(item);
        }
      return out;
    }
    if (e.id == "map") {
      Value attribute = kwarg(e, "attribute");
      List out;
      if (v.is_list())
        for (const Value& item : v.as_list()) {
          if (!attribute.is_undefined()) {
            const Value* a = item.find(attribute.str());
            out.push_back(a ? *a : Value());
          } else {
            out.push_back(filter_value(args.empty() ? "string" : args[0].str(), item, {}));
          }
        }
      return out;
    }
    return filter_value(e.id, v, args);
  }

  Value filter_value(const std::string& f, const Value& v, const std::vector<Value>& args) {
    const std::string kSpace = " \t\n\r\f\v";
    if (f == "trim") return strip(v.str(), args.empty() ? kSpace : args[0].str(), true, true);
    if (f == "length" || f == "count") {
      if (v.is_string()) {  // code points, as Python
        int64_t n = 0;
        for (unsigned char c : v.as_string()) n += (c & 0xC0) != 0x80;
        return n;
      }
      if (v.is_list()) return int64_t(v.as_list().size());
      if (v.is_dict()) return int64_t(v.as_dict().size());
      return int64_t(0);
    }
    if (f == "upper" || f == "lower") return method(Value(v.str()), f, {});
    if (f == "string") return v.str();
    if (f == "safe") return v;
    if (f == "int") return v.is_number() ? Value(int64_t(v.as_number())) : Value(int64_t(std::atoll(v.str().c_str())));
    if (f == "float") return v.is_number() ? Value(v.as_number()) : Value(std::atof(v.str().c_str()));
    if (f == "abs") return v.is_int() ? Value(int64_t(std::llabs(v.as_int()))) : Value(std::fabs(v.as_number()));
    if (f == "first") return v.is_list() && !v.as_list().empty() ? v.as_list().front() : subscript(v, Value(int64_t(0)));
    if (f == "last") return v.is_list() && !v.as_list().empty() ? v.as_list().back() : subscript(v, Value(int64_t(-1)));
    if (f == "list") {
      if (v.is_list()) return v;
      if (v.is_dict()) return method(v, "keys", {});
      List l;
      for (char c : v.str()) l.push_back(std::string(1, c));
      return l;
    }
    if (f == "items") return method(v, "items", {});
    if (f == "reverse") {
      if (v.is_string()) return std::string(v.as_string().rbegin(), v.as_string().rend());
      List l = v.is_list() ? v.as_list() : List{};
      std::reverse(l.begin(), l.end());
      return l;
    }
    if (f == "join") {
      std::string sep = args.empty() ? "" : args[0].str(), out;
      if (v.is_list())
        for (size_t i = 0; i < v.as_list().size(); ++i) out += (i ? sep : "") + v.as_list()[i].str();
      return out;
    }
    if (f == "replace" && args.size() >= 2) return replace(v.str(), args[0].str(), args[1].str());
    if (f == "title" || f == "capitalize") {
      std::string s = v.str();
      bool start = true;
      for (char& c : s) {
        bool alpha = std::isalpha(static_cast<unsigned char>(c));
        c = char(start && alpha ? std::toupper(static_cast<unsigned char>(c))
                                : (f == "title" && !start) || f == "capitalize" ? std::tolower(static_cast<unsigned char>(c)) : c);
        if (f == "title") start = !alpha;
        else if (alpha) start = false;
      }
      return s;
    }
    if (f == "unique") {
      List out;
      if (v.is_list())
        for (const Value& x : v.as_list())
          if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
      return out;
    }
    fail("chat template", "unknown filter '" + f + "'");
  }

  bool test(const Expr& e) { return test_value(e.id, eval(*e.args[0]), arguments(e, 1)); }

  bool test_value(const std::string& t, const Value& v, const std::vector<Value>& args) {
    if (t == "defined") return !v.is_undefined();
    if (t == "undefined") return v.is_undefined();
    if (t == "none") return v.is_none();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_int();
    if (t == "float") return v.is_float();
    if (t == "boolean") return v.is_bool();
    if (t == "true") return v.is_bool() && v.as_bool();
    if (t == "false") return v.is_bool() && !v.as_bool();
    if (t == "mapping") return v.is_dict();
    if (t == "sequence" || t == "iterable") return v.is_list() || v.is_string() || (t == "iterable" && v.is_dict());
    if (t == "even" || t == "odd") return v.is_int() && (v.as_int() % 2 == 0) == (t == "even");
    if ((t == "divisibleby") && !args.empty()) return v.is_int() && args[0].is_int() && args[0].as_int() && v.as_int() % args[0].as_int() == 0;
    if ((t == "equalto" || t == "eq" || t == "==") && !args.empty()) return v == args[0];
    if ((t == "ne" || t == "!=") && !args.empty()) return !(v == args[0]);
    if (t == "in" && !args.empty()) {
      const Value& c = args[0];
      if (c.is_list()) return std::find(c.as_list().begin(), c.as_list().end(), v) != c.as_list().end();
      if (c.is_string()) return c.as_string().find(v.str()) != std::string::npos;
      return c.is_dict() && c.find(v.str());
    }
    fail("chat template", "unknown test '" + t + "'");
  }

  std::vector<std::map<std::string, Value>> scopes_;
  const Value* globals_;
  std::map<std::string, Macro> macros_;
};

}  // namespace

Template::Template(const std::string& source) {
  StmtParser parser(split_pieces(source));
  root_ = parser.block({}, nullptr);
}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;

std::string Template::render(const Value& context) const {
  Renderer r(context);
  std::string out;
  r.render(*root_, out);
  return out;
}

}  // namespace tessera::jinja
