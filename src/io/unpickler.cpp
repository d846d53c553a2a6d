#include "io/unpickler.h"

#include <bit>
#include <cstring>
#include <unordered_map>

#include "tessera/error.h"

namespace tessera::io {

namespace {

using Kind = PickleValue::Kind;

// The opcodes understood; anything else is refused. Opcodes that import or instantiate through
// other paths (INST, OBJ, NEWOBJ, EXT1/2/4, PERSID text form, ...) are deliberately absent.
enum Opcode : uint8_t {
  kProto = 0x80,
  kFrame = 0x95,
  kStop = '.',
  kEmptyDict = '}',
  kEmptyList = ']',
  kEmptyTuple = ')',
  kMark = '(',
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kTuple = 't',
  kList = 'l',
  kDict = 'd',
  kSetItem = 's',
  kSetItems = 'u',
  kAppend = 'a',
  kAppends = 'e',
  kBinUnicode = 'X',
  kBinUnicode8 = 0x8d,
  kShortBinUnicode = 0x8c,
  kBinBytes = 'B',
  kBinBytes8 = 0x8e,
  kShortBinBytes = 'C',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kLong1 = 0x8a,
  kNone = 'N',
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kBinFloat = 'G',
  kGlobal = 'c',
  kStackGlobal = 0x93,
  kReduce = 'R',
  kBuild = 'b',
  kBinPersId = 'Q',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kMemoize = 0x94,
  kBinGet = 'h',
  kLongBinGet = 'j',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
};

constexpr int kHighestProtocol = 5;

class Machine {
 public:
  Machine(Unpickler& unpickler, std::span<const uint8_t> bytes, PickleHooks& hooks)
      : u_(unpickler), bytes_(bytes), hooks_(hooks) {}

  PickleValue* run() {
    while (true) {
      opcode_at_ = pos_;
      uint8_t op = take<uint8_t>();
      switch (op) {
        case kProto: {
          uint8_t protocol = take<uint8_t>();
          if (protocol > kHighestProtocol)
            fail("unsupported pickle protocol " + std::to_string(protocol));
          break;
        }
        case kFrame:
          take<uint64_t>();
          break;  // framing only groups reads; the bytes follow inline
        case kStop: {
          PickleValue* result = pop();
          if (!stack_.empty() || !marks_.empty())
            fail("corrupt pickle: values left on the stack at STOP");
          return result;
        }
        case kEmptyDict:
          push(u_.make(Kind::dict));
          break;
        case kEmptyList:
          push(u_.make(Kind::list));
          break;
        case kEmptyTuple:
          push(u_.make(Kind::tuple));
          break;
        case kMark:
          marks_.push_back(stack_.size());
          break;
        case kTuple1:
          push_sequence(Kind::tuple, pop_n(1));
          break;
        case kTuple2:
          push_sequence(Kind::tuple, pop_n(2));
          break;
        case kTuple3:
          push_sequence(Kind::tuple, pop_n(3));
          break;
        case kTuple:
          push_sequence(Kind::tuple, pop_to_mark());
          break;
        case kList:
          push_sequence(Kind::list, pop_to_mark());
          break;
        case kDict: {
          PickleValue* dict = u_.make(Kind::dict);
          set_items(dict, pop_to_mark());
          push(dict);
          break;
        }
        case kSetItem: {
          std::vector<PickleValue*> pair = pop_n(2);
          set_items(top(), std::move(pair));
          break;
        }
        case kSetItems: {
          std::vector<PickleValue*> items = pop_to_mark();
          set_items(top(), std::move(items));
          break;
        }
        case kAppend: {
          PickleValue* item = pop();
          append_items(top(), {item});
          break;
        }
        case kAppends: {
          std::vector<PickleValue*> items = pop_to_mark();
          append_items(top(), std::move(items));
          break;
        }
        case kBinUnicode:
          push_text(Kind::string, take<uint32_t>());
          break;
        case kBinUnicode8:
          push_text(Kind::string, take<uint64_t>());
          break;
        case kShortBinUnicode:
          push_text(Kind::string, take<uint8_t>());
          break;
        case kBinBytes:
          push_text(Kind::bytes, take<uint32_t>());
          break;
        case kBinBytes8:
          push_text(Kind::bytes, take<uint64_t>());
          break;
        case kShortBinBytes:
          push_text(Kind::bytes, take<uint8_t>());
          break;
        case kBinInt:
          push_integer(int32_t(take<uint32_t>()));
          break;
        case kBinInt1:
          push_integer(take<uint8_t>());
          break;
        case kBinInt2:
          push_integer(take<uint16_t>());
          break;
        case kLong1:
          push_integer(take_long1());
          break;
        case kNone:
          push(u_.make(Kind::none));
          break;
        case kNewTrue:
          push_boolean(true);
          break;
        case kNewFalse:
          push_boolean(false);
          break;
        case kBinFloat: {
          PickleValue* v = u_.make(Kind::floating);
          v->floating = std::bit_cast<double>(take_big_endian_u64());
          push(v);
          break;
        }
        case kGlobal: {
          std::string module = take_line();
          std::string name = take_line();
          push_global(module, name);
          break;
        }
        case kStackGlobal: {
          PickleValue* name = pop();
          PickleValue* module = pop();
          if (module->kind != Kind::string || name->kind != Kind::string)
            fail("corrupt pickle: STACK_GLOBAL needs two strings");
          push_global(module->text, name->text);
          break;
        }
        case kReduce: {
          PickleValue* args = pop();
          PickleValue* callable = pop();
          if (callable->kind != Kind::global)
            fail("REDUCE calls something that is not an allowed global");
          if (args->kind != Kind::tuple) fail("REDUCE arguments are not a tuple");
          push(hooks_.call(u_, *callable, args));
          break;
        }
        case kBuild: {
          PickleValue* state = pop();
          hooks_.build(u_, top(), state);
          break;
        }
        case kBinPersId:
          push(hooks_.persistent_load(u_, pop()));
          break;
        case kBinPut:
          memo_[take<uint8_t>()] = top();
          break;
        case kLongBinPut:
          memo_[take<uint32_t>()] = top();
          break;
        case kMemoize:
          memo_[uint32_t(memo_.size())] = top();
          break;
        case kBinGet:
          push(memo_get(take<uint8_t>()));
          break;
        case kLongBinGet:
          push(memo_get(take<uint32_t>()));
          break;
        case kPop:
          pop();
          break;
        case kPopMark:
          pop_to_mark();
          break;
        case kDup:
          push(top());
          break;
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          u_.fail("refusing to load " + u_.source() + ": unsupported pickle opcode " + hex +
                  " at byte " + std::to_string(opcode_at_));
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    u_.fail(u_.source() + ": " + message + " (at byte " + std::to_string(opcode_at_) + ")");
  }

  void need(uint64_t count) const {
    if (count > bytes_.size() - pos_) fail("pickle data ends early (truncated file?)");
  }
  template <typename T>
  T take() {
    need(sizeof(T));
    T value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) value |= T(T(bytes_[pos_ + i]) << (8 * i));
    pos_ += sizeof(T);
    return value;
  }
  uint64_t take_big_endian_u64() {
    need(8);
    uint64_t value = 0;
    for (size_t i = 0; i < 8; ++i) value = (value << 8) | bytes_[pos_ + i];
    pos_ += 8;
    return value;
  }
  int64_t take_long1() {
    uint8_t n = take<uint8_t>();
    if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
    need(n);
    uint64_t value = 0;
    for (size_t i = 0; i < n; ++i) value |= uint64_t(bytes_[pos_ + i]) << (8 * i);
    if (n > 0 && n < 8 && (bytes_[pos_ + n - 1] & 0x80))
      value |= ~uint64_t(0) << (8 * n);  // sign-extend
    pos_ += n;
    return int64_t(value);
  }
  std::string take_line() {
    const uint8_t* start = bytes_.data() + pos_;
    const void* newline = std::memchr(start, '\n', bytes_.size() - pos_);
    if (!newline) fail("pickle data ends inside a GLOBAL name");
    size_t length = size_t(static_cast<const uint8_t*>(newline) - start);
    pos_ += length + 1;
    return std::string(reinterpret_cast<const char*>(start), length);
  }

  void push(PickleValue* v) { stack_.push_back(v); }
  void push_integer(int64_t i) {
    PickleValue* v = u_.make(Kind::integer);
    v->integer = i;
    push(v);
  }
  void push_boolean(bool b) {
    PickleValue* v = u_.make(Kind::boolean);
    v->boolean = b;
    push(v);
  }
  void push_text(Kind kind, uint64_t length) {
    need(length);
    PickleValue* v = u_.make(kind);
    v->text.assign(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    push(v);
  }
  void push_sequence(Kind kind, std::vector<PickleValue*> items) {
    PickleValue* v = u_.make(kind);
    v->items = std::move(items);
    push(v);
  }
  void push_global(const std::string& module, const std::string& name) {
    if (!hooks_.allows_global(module, name))
      u_.fail("refusing to load " + u_.source() + ": pickle references " + module + "." + name +
              " (only the globals needed to rebuild tensors are allowed)");
    PickleValue* v = u_.make(Kind::global);
    v->text = module + "." + name;
    push(v);
  }

  PickleValue* top() const {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back()))
      fail("corrupt pickle: stack underflow");
    return stack_.back();
  }
  PickleValue* pop() {
    PickleValue* v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<PickleValue*> pop_n(size_t n) {
    size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) fail("corrupt pickle: stack underflow");
    std::vector<PickleValue*> items(stack_.end() - std::ptrdiff_t(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return items;
  }
  std::vector<PickleValue*> pop_to_mark() {
    if (marks_.empty()) fail("corrupt pickle: no MARK to pop to");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + std::ptrdiff_t(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  void set_items(PickleValue* dict, std::vector<PickleValue*> keys_and_values) {
    if (dict->kind != Kind::dict) fail("SETITEM(S) on something that is not a dict");
    if (keys_and_values.size() % 2 != 0) fail("corrupt pickle: SETITEMS with an odd item count");
    for (size_t i = 0; i < keys_and_values.size(); i += 2)
      dict->entries.emplace_back(keys_and_values[i], keys_and_values[i + 1]);
  }
  void append_items(PickleValue* list, std::vector<PickleValue*> items) {
    if (list->kind != Kind::list) fail("APPEND(S) on something that is not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  PickleValue* memo_get(uint32_t index) const {
    auto it = memo_.find(index);
    if (it == memo_.end())
      fail("corrupt pickle: memo entry " + std::to_string(index) + " was never stored");
    return it->second;
  }

  Unpickler& u_;
  std::span<const uint8_t> bytes_;
  PickleHooks& hooks_;
  size_t pos_ = 0;
  size_t opcode_at_ = 0;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, PickleValue*> memo_;
};

}  // namespace

Unpickler::Unpickler(std::span<const uint8_t> bytes, PickleHooks& hooks, std::string source)
    : bytes_(bytes), hooks_(hooks), source_(std::move(source)) {}

PickleValue* Unpickler::load() { return Machine(*this, bytes_, hooks_).run(); }

PickleValue* Unpickler::make(PickleValue::Kind kind) {
  arena_.push_back(std::make_unique<PickleValue>());
  arena_.back()->kind = kind;
  return arena_.back().get();
}

void Unpickler::fail(const std::string& message) const { tessera::fail("unpickle", message); }

}  // namespace tessera::io
