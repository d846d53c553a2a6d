#include "tessera/pytorch_bin.h"

#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "io/sharded_index.h"
#include "io/tensor_storage.h"
#include "io/unpickler.h"
#include "io/zip_reader.h"
#include "tessera/error.h"

namespace tessera {

namespace {

using io::PickleValue;
using Kind = PickleValue::Kind;

constexpr const char* kWhere = "pytorch_bin";
// A state dict's pickle is a few bytes per tensor; a huge one is not a checkpoint, and each
// opcode may allocate a value, so the size is capped before unpickling.
constexpr uint64_t kMaxPickleBytes = 64ull << 20;

// torch.<Name>Storage and torch.<dtype> globals: the dtype each names, or nullopt for torch dtypes
// tessera lacks (they may be named, and fail only if a tensor needs them).
const std::map<std::string, std::optional<Dtype>> kStorageTypes = {
    {"FloatStorage", Dtype::float32},     {"HalfStorage", Dtype::float16},
    {"BFloat16Storage", Dtype::bfloat16}, {"LongStorage", Dtype::int64},
    {"IntStorage", Dtype::int32},         {"CharStorage", Dtype::int8},
    {"ByteStorage", Dtype::uint8},        {"BoolStorage", Dtype::bool_},
    {"DoubleStorage", std::nullopt},      {"ShortStorage", std::nullopt}};
const std::map<std::string, std::optional<Dtype>> kDtypeObjects = {
    {"float32", Dtype::float32}, {"float16", Dtype::float16}, {"bfloat16", Dtype::bfloat16},
    {"int64", Dtype::int64},     {"int32", Dtype::int32},     {"int8", Dtype::int8},
    {"uint8", Dtype::uint8},     {"bool", Dtype::bool_},      {"float64", std::nullopt},
    {"int16", std::nullopt}};

struct Storage {
  std::string key;
  std::string type_name;
  Dtype dtype;
  int64_t numel;
  std::shared_ptr<Buffer> buffer;
};

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return "bool";
    case Kind::integer:
      return "int";
    case Kind::floating:
      return "float";
    case Kind::string:
      return "str";
    case Kind::bytes:
      return "bytes";
    case Kind::tuple:
      return "tuple";
    case Kind::list:
      return "list";
    case Kind::dict:
      return "dict";
    case Kind::global:
      return "global";
    case Kind::host:
      return "object";
  }
  return "?";
}

// Rebuilds tensors from a torch.save pickle, zero-copy over the archive's storage entries.
class TorchPickleHooks : public io::PickleHooks {
 public:
  TorchPickleHooks(const io::ZipArchive& archive, std::string prefix)
      : archive_(archive), prefix_(std::move(prefix)), path_(archive.file()->path()) {}

  bool allows_global(const std::string& module, const std::string& name) override {
    if (module == "collections") return name == "OrderedDict";
    if (module == "torch._utils")
      return name == "_rebuild_tensor_v2" || name == "_rebuild_parameter";
    if (module == "torch") return kStorageTypes.count(name) || kDtypeObjects.count(name);
    return false;
  }

  PickleValue* persistent_load(io::Unpickler& u, PickleValue* id) override {
    // torch.save's persistent id: ("storage", torch.<T>Storage, key, location, numel).
    const auto& f = id->items;
    if (id->kind != Kind::tuple || f.size() != 5 || f[0]->kind != Kind::string ||
        f[0]->text != "storage" || f[1]->kind != Kind::global || f[2]->kind != Kind::string ||
        f[4]->kind != Kind::integer || f[4]->integer < 0)
      u.fail(path_ + ": unexpected persistent id (not a torch storage reference)");
    const std::string& key = f[2]->text;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;  // storage shared by several tensors

    const std::string type_name = f[1]->text;  // "torch.FloatStorage"
    auto type = kStorageTypes.find(type_name.substr(type_name.rfind('.') + 1));
    if (type == kStorageTypes.end()) u.fail(path_ + ": " + type_name + " is not a storage type");
    if (!type->second)
      fail(kWhere, path_ + ": storage " + key + " is a " + type_name +
                       ", a dtype tessera does not support");
    Storage storage{key, type_name, *type->second, f[4]->integer, nullptr};
    const std::string entry_name = prefix_ + "data/" + key;
    const io::ZipEntry* entry = archive_.find(entry_name);
    if (!entry) fail(kWhere, path_ + ": missing entry " + entry_name + " (a tensor storage)");
    uint64_t expected_bytes = 0;
    if (__builtin_mul_overflow(uint64_t(storage.numel), itemsize(storage.dtype), &expected_bytes) ||
        entry->uncompressed_size != expected_bytes)
      fail(kWhere, path_ + ": entry " + entry_name + " holds " +
                       std::to_string(entry->uncompressed_size) + " bytes, but its " + type_name +
                       " of " + std::to_string(storage.numel) + " elements needs " +
                       std::to_string(expected_bytes));
    const std::string what = path_ + ": storage " + entry_name;
    if (entry->method == 0) {
      storage.buffer = io::tensor_storage(archive_.file(), entry->data_offset, expected_bytes,
                                          storage.dtype, kWhere, what);
    } else {
      storage.buffer = archive_.inflate(*entry);
      if (storage.dtype == Dtype::bool_)
        io::check_bool_bytes(storage.buffer->host(), expected_bytes, kWhere, what);
    }
    PickleValue* value = u.make(Kind::host);
    value->host = std::move(storage);
    storages_.emplace(key, value);
    return value;
  }

  PickleValue* call(io::Unpickler& u, const PickleValue& callable, PickleValue* args) override {
    const std::string& name = callable.text;
    if (name == "collections.OrderedDict") {
      if (!args->items.empty()) u.fail(path_ + ": OrderedDict called with arguments");
      return u.make(Kind::dict);
    }
    if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(u, args->items);
    if (name == "torch._utils._rebuild_parameter") {
      // (data, requires_grad, backward_hooks): a Parameter is its data for inference.
      if (args->items.empty() || !std::any_cast<Array>(&args->items[0]->host))
        u.fail(path_ + ": _rebuild_parameter without a tensor");
      return args->items[0];
    }
    u.fail(path_ + ": calling " + name + " is not supported");
  }

  void build(io::Unpickler& u, PickleValue* object, PickleValue* state) override {
    // A state dict is an OrderedDict whose BUILD state only sets attributes (_metadata, version
    // numbers for module upgrades); its items are already set.
    if (object->kind != Kind::dict) u.fail(path_ + ": BUILD on a " + kind_name(object->kind));
  }

 private:
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
  // metadata]): a strided view of the storage.
  PickleValue* rebuild_tensor(io::Unpickler& u, const std::vector<PickleValue*>& args) {
    auto bad = [&](const std::string& why) -> PickleValue* {
      u.fail(path_ + ": _rebuild_tensor_v2: " + why);
    };
    if (args.size() < 4) return bad("expected at least 4 arguments");
    const Storage* storage = std::any_cast<Storage>(&args[0]->host);
    if (!storage) return bad("first argument is not a storage");
    if (args[1]->kind != Kind::integer || args[1]->integer < 0) return bad("bad storage offset");
    auto int_tuple = [&](const PickleValue* v, const char* what) {
      if (v->kind != Kind::tuple) bad(std::string(what) + " is not a tuple");
      std::vector<int64_t> out;
      for (const PickleValue* item : v->items) {
        if (item->kind != Kind::integer || item->integer < 0)
          bad(std::string(what) + " holds a non-integer or negative value");
        out.push_back(item->integer);
      }
      return out;
    };
    Shape shape = int_tuple(args[2], "size");
    Strides strides = int_tuple(args[3], "stride");
    const int64_t offset = args[1]->integer;
    if (shape.size() != strides.size()) return bad("size and stride differ in length");

    // The furthest element the view reaches must lie inside the storage.
    int64_t elements = 1, last = offset;
    bool overflow = false;
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t reach = 0;
      overflow |= __builtin_mul_overflow(elements, shape[i], &elements);
      overflow |= __builtin_mul_overflow(std::max<int64_t>(shape[i] - 1, 0), strides[i], &reach);
      overflow |= __builtin_add_overflow(last, reach, &last);
    }
    if (overflow) return bad("size " + to_string(shape) + " overflows");
    if (elements > 0 && last >= storage->numel)
      return bad("view (offset " + std::to_string(offset) + ", size " + to_string(shape) +
                 ") reaches element " + std::to_string(last) + " of a storage of " +
                 std::to_string(storage->numel));
    PickleValue* tensor = u.make(Kind::host);
    tensor->host = Array::from_buffer(storage->buffer, std::move(shape), storage->dtype,
                                      std::move(strides), offset);
    return tensor;
  }

  const io::ZipArchive& archive_;
  std::string prefix_;  // "archive/"
  std::string path_;
  std::map<std::string, PickleValue*> storages_;
};

// torch.save names every entry "<archive name>/...", the archive name being arbitrary.
std::string find_archive_prefix(const io::ZipArchive& archive) {
  for (const io::ZipEntry& entry : archive.entries()) {
    size_t slash = entry.name.find('/');
    if (slash != std::string::npos && entry.name.substr(slash) == "/data.pkl")
      return entry.name.substr(0, slash + 1);
  }
  fail(kWhere, archive.file()->path() + ": no <archive>/data.pkl entry; not a torch.save file");
}

// The bytes of a small entry (data.pkl, byteorder), inflated if needed.
std::shared_ptr<Buffer> entry_bytes(const io::ZipArchive& archive, const io::ZipEntry& entry) {
  if (entry.method != 0) return archive.inflate(entry);
  return Buffer::map(archive.file(), entry.data_offset, entry.uncompressed_size);
}

void check_torch_zip_magic(const MappedFile& file) {
  const uint8_t* p = file.data();
  if (file.size() >= 4 && std::memcmp(p, "PK\x03\x04", 4) == 0) return;
  // Before PyTorch 1.6, torch.save wrote a bare pickle stream (starting with PROTO, 0x80), and
  // before 0.4 a tar archive.
  bool legacy = (file.size() >= 2 && p[0] == 0x80) ||
                (file.size() >= 262 && std::memcmp(p + 257, "ustar", 5) == 0);
  if (legacy)
    fail(kWhere, file.path() +
                     ": unsupported legacy (pre-1.6, non-zip) torch.save format; "
                     "re-save it with a recent torch or convert it to safetensors");
  fail(kWhere, file.path() + ": not a torch.save zip archive");
}

}  // namespace

TensorMap load_pytorch_bin(const std::string& path) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  check_torch_zip_magic(*file);
  io::ZipArchive archive(file);
  const std::string prefix = find_archive_prefix(archive);

  if (const io::ZipEntry* byteorder = archive.find(prefix + "byteorder")) {
    auto bytes = entry_bytes(archive, *byteorder);
    std::string order(static_cast<const char*>(bytes->host()), bytes->size());
    TESSERA_CHECK(
        order == "little", kWhere,
        path + ": tensors are stored " + order + "-endian; only little-endian is supported");
  }
  const io::ZipEntry& pickle_entry = *archive.find(prefix + "data.pkl");
  TESSERA_CHECK(pickle_entry.uncompressed_size <= kMaxPickleBytes, kWhere,
                path + ": data.pkl is " + std::to_string(pickle_entry.uncompressed_size) +
                    " bytes, too large for a state dict");
  auto pickle = entry_bytes(archive, pickle_entry);

  TorchPickleHooks hooks(archive, prefix);
  io::Unpickler unpickler({static_cast<const uint8_t*>(pickle->host()), pickle->size()}, hooks,
                          path);
  const PickleValue* root = unpickler.load();
  TESSERA_CHECK(root->kind == Kind::dict, kWhere,
                path + ": the pickle holds a " + kind_name(root->kind) + ", expected a state dict");
  TensorMap tensors;
  for (const auto& [key, value] : root->entries) {
    TESSERA_CHECK(key->kind == Kind::string, kWhere,
                  path + ": state dict key is a " + kind_name(key->kind) + ", expected a string");
    const Array* array = std::any_cast<Array>(&value->host);
    TESSERA_CHECK(array, kWhere,
                  path + ": entry '" + key->text + "' is a " + kind_name(value->kind) +
                      ", not a tensor (only flat state dicts are supported)");
    TESSERA_CHECK(tensors.emplace(key->text, *array).second, kWhere,
                  path + ": tensor '" + key->text + "' appears twice");
  }
  return tensors;
}

TensorMap load_pytorch_bin_index(const std::string& index_json_path) {
  return io::load_sharded_checkpoint(index_json_path, kWhere, load_pytorch_bin);
}

}  // namespace tessera
