#pragma once
// A restricted pickle reader: it understands the opcodes torch.save emits and builds plain values
// from them. It never imports or calls anything itself: every GLOBAL is shown to the hooks, which
// refuse all but an allowlist, and every REDUCE/BUILD/persistent id is handed to the hooks to
// interpret. Unknown opcodes (INST, OBJ, NEWOBJ, EXT*, ...) are refused.
#include <any>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tessera::io {

struct PickleValue {
  enum class Kind {
    none,
    boolean,
    integer,
    floating,
    string,
    bytes,
    tuple,
    list,
    dict,
    global,
    host
  };
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0.0;
  std::string text;                 // string, bytes; global: "module.name"
  std::vector<PickleValue*> items;  // tuple, list
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;  // dict, in insertion order
  std::any host;  // an object the hooks built (a tensor, a storage), opaque to the unpickler
};

class Unpickler;

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // Whether the pickle may name module.name at all; false stops loading with a "refusing" error.
  virtual bool allows_global(const std::string& module, const std::string& name) = 0;
  // BINPERSID: the object a persistent id refers to.
  virtual PickleValue* persistent_load(Unpickler& unpickler, PickleValue* id) = 0;
  // REDUCE of an allowed global: what calling it with `args` (a tuple) would return.
  virtual PickleValue* call(Unpickler& unpickler, const PickleValue& callable,
                            PickleValue* args) = 0;
  // BUILD: apply `state` to `object` (or ignore it).
  virtual void build(Unpickler& unpickler, PickleValue* object, PickleValue* state) = 0;
};

class Unpickler {
 public:
  // `source` names the file in errors. `bytes` must outlive the Unpickler.
  Unpickler(std::span<const uint8_t> bytes, PickleHooks& hooks, std::string source);

  // Runs the pickle to STOP. The result and everything it refers to live as long as the
  // Unpickler: values are owned by it, in one flat arena, so hostile nesting or reference cycles
  // cannot overflow the stack or leak on destruction.
  PickleValue* load();

  PickleValue* make(PickleValue::Kind kind);
  const std::string& source() const { return source_; }
  // Throws "[unpickle] message"; messages name source() themselves.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::span<const uint8_t> bytes_;
  PickleHooks& hooks_;
  std::string source_;
  std::vector<std::unique_ptr<PickleValue>> arena_;
};

}  // namespace tessera::io
