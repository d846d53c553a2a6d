// Chat templates (Llama 3.1, Qwen2.5, Qwen3, Mistral, Gemma, Zephyr) rendered by tessera's Jinja
// interpreter must equal transformers' rendering of the same conversations, byte for byte,
// including tool calls and the conversations the templates refuse with raise_exception.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/chat_template.h"
#include "runtime/jinja/template.h"
#include "tessera/error.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
const fs::path kTemplates = fs::path(TESSERA_FIXTURES) / "decoders" / "chat_templates";

jinja::Value to_value(const nlohmann::ordered_json& j) {
  if (j.is_null()) return jinja::None{};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array()) {
    jinja::List l;
    for (const auto& x : j) l.push_back(to_value(x));
    return l;
  }
  jinja::Dict d;
  for (const auto& [k, v] : j.items()) d.emplace_back(k, to_value(v));
  return d;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ChatTemplate, RendersAsTransformers) {
  std::ifstream cases(kTemplates / "cases.jsonl");
  std::string line;
  int checked = 0;
  while (std::getline(cases, line)) {
    // Insertion-ordered: tojson writes keys in the order the conversation has them.
    nlohmann::ordered_json c = nlohmann::ordered_json::parse(line);
    ChatTemplate t(read(kTemplates / (c["template"].get<std::string>() + ".jinja")), c["bos_token"], c["eos_token"]);
    jinja::Dict extra;
    for (const auto& [k, v] : c["extra"].items()) extra.emplace_back(k, to_value(v));
    extra.emplace_back("tools", to_value(c["tools"]));
    std::string label = c["template"].get<std::string>() + " case " + std::to_string(checked);
    jinja::Value messages = to_value(c["messages"]);
    if (c.contains("error")) {
      try {
        t.render(messages, c["add_generation_prompt"], extra);
        ADD_FAILURE() << label << ": expected an error";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos) << label << ": " << e.what();
      }
    } else {
      EXPECT_EQ(t.render(messages, c["add_generation_prompt"], extra), c["rendered"].get<std::string>()) << label;
    }
    ++checked;
  }
  EXPECT_GE(checked, 60);
}

TEST(Jinja, ExpressionsAndStatements) {
  auto render = [](const std::string& src, jinja::Dict ctx = {}) { return jinja::Template(src).render(jinja::Value(ctx)); };
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }}|{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 1 / 2 }}"), "a1None|3 -4 1 8 0.5");
  EXPECT_EQ(render("{% for x in [3, 1, 2] if x > 1 %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}"), "1:3,2:2");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"), "3");
  EXPECT_EQ(render("{{ 'abc'[::-1] }}{{ [1,2,3][1:] }}{{ 'a,b'.split(',') | join('+') }}{{ ' x '|trim|upper }}"), "cba[2, 3]a+bX");
  EXPECT_EQ(render("{{ {'b': 1, 'a': [true, none, 1.5, 'q\"']} | tojson }}"), "{\"b\": 1, \"a\": [true, null, 1.5, \"q\\\"\"]}");
  EXPECT_EQ(render("{{ x is defined }}{{ x | default('d') }}{{ 'y' if x else 'n' }}{{ 3 is odd }}"), "FalsednTrue");
  EXPECT_EQ(render("{% macro greet(name, p='!') %}hi {{ name }}{{ p }}{% endmacro %}{{ greet('a') }}{{ greet('b', p='?') }}"), "hi a!hi b?");
  EXPECT_EQ(render("  {%- if true %}\n  x\n  {% endif %}\n"), "  x\n");
  EXPECT_THROW(render("{% if %}"), Error);
  EXPECT_THROW(render("{{ raise_exception('no') }}"), Error);
}

}  // namespace
}  // namespace tessera
