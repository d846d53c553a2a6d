#include "tessera/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "io/atomic_file.h"
#include "io/json_document.h"
#include "io/sharded_index.h"
#include "io/tensor_storage.h"
#include "tessera/error.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

constexpr const char* kWhere = "safetensors";
constexpr uint64_t kLengthPrefixBytes = 8;
// The reference implementation's limit; a larger header is a corrupt length, not a real model.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeName {
  Dtype dtype;
  std::string_view name;
};
constexpr std::array<DtypeName, 9> kDtypeNames = {{{Dtype::float32, "F32"},
                                                   {Dtype::float16, "F16"},
                                                   {Dtype::bfloat16, "BF16"},
                                                   {Dtype::int8, "I8"},
                                                   {Dtype::uint8, "U8"},
                                                   {Dtype::int32, "I32"},
                                                   {Dtype::int64, "I64"},
                                                   {Dtype::uint32, "U32"},
                                                   {Dtype::bool_, "BOOL"}}};
// Valid in the format, but tessera has no such dtype.
constexpr std::array<std::string_view, 11> kUnsupportedDtypeNames = {
    "F64", "I16", "U16", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};

std::string_view safetensors_name(Dtype dtype) {
  for (const auto& entry : kDtypeNames)
    if (entry.dtype == dtype) return entry.name;
  fail(kWhere, "no safetensors name for dtype " + std::string(name(dtype)));
}

std::optional<Dtype> dtype_from_safetensors_name(std::string_view s) {
  for (const auto& entry : kDtypeNames)
    if (entry.name == s) return entry.dtype;
  return std::nullopt;
}

// One tensor's header entry, before its bytes are mapped.
struct TensorEntry {
  std::string name;
  Dtype dtype;
  Shape shape;
  uint64_t begin;  // byte offsets within the data section
  uint64_t end;
};

class HeaderParser {
 public:
  HeaderParser(std::string path, uint64_t data_bytes)
      : path_(std::move(path)), data_bytes_(data_bytes) {}

  [[noreturn]] void fail_tensor(const std::string& tensor, const std::string& message) const {
    fail(kWhere, path_ + ": tensor '" + tensor + "': " + message);
  }

  TensorEntry parse_entry(const std::string& tensor, const nlohmann::json& info) const {
    if (!info.is_object())
      fail_tensor(tensor, std::string("entry is a ") + info.type_name() + ", expected an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!info.contains(field)) fail_tensor(tensor, std::string("missing \"") + field + "\"");
    TensorEntry entry{tensor, parse_dtype(tensor, info["dtype"]),
                      parse_shape(tensor, info["shape"]), 0, 0};
    std::tie(entry.begin, entry.end) = parse_offsets(tensor, info["data_offsets"]);
    uint64_t expected_bytes = 0;
    if (__builtin_mul_overflow(uint64_t(numel(entry.shape)), itemsize(entry.dtype),
                               &expected_bytes))
      fail_tensor(tensor, "shape " + to_string(entry.shape) + " is too large");
    if (entry.end - entry.begin != expected_bytes)
      fail_tensor(tensor, "data_offsets span " + std::to_string(entry.end - entry.begin) +
                              " bytes, but shape " + to_string(entry.shape) + " of " +
                              std::string(safetensors_name(entry.dtype)) + " needs " +
                              std::to_string(expected_bytes));
    return entry;
  }

 private:
  Dtype parse_dtype(const std::string& tensor, const nlohmann::json& value) const {
    if (!value.is_string())
      fail_tensor(tensor,
                  std::string("\"dtype\" is a ") + value.type_name() + ", expected a string");
    const auto& text = value.get_ref<const std::string&>();
    if (auto dtype = dtype_from_safetensors_name(text)) return *dtype;
    if (std::find(kUnsupportedDtypeNames.begin(), kUnsupportedDtypeNames.end(), text) !=
        kUnsupportedDtypeNames.end())
      fail_tensor(tensor, "unsupported dtype " + text +
                              " (tessera supports F32 F16 BF16 I8 U8 I32 I64 U32 BOOL)");
    fail_tensor(tensor, "unknown dtype \"" + text + "\"");
  }

  Shape parse_shape(const std::string& tensor, const nlohmann::json& value) const {
    if (!value.is_array())
      fail_tensor(tensor,
                  std::string("\"shape\" is a ") + value.type_name() + ", expected an array");
    Shape shape;
    int64_t elements = 1;
    for (const auto& dim : value) {
      if (!dim.is_number_integer())
        fail_tensor(tensor, "shape holds " + dim.dump() + ", expected integers");
      if (dim.is_number_unsigned() ? dim.get<uint64_t>() > uint64_t(INT64_MAX)
                                   : dim.get<int64_t>() < 0)
        fail_tensor(tensor, "shape holds " + dim.dump() + ", expected dimensions >= 0");
      shape.push_back(dim.get<int64_t>());
      if (__builtin_mul_overflow(elements, shape.back(), &elements))
        fail_tensor(tensor, "shape " + value.dump() + " overflows the element count");
    }
    return shape;
  }

  std::pair<uint64_t, uint64_t> parse_offsets(const std::string& tensor,
                                              const nlohmann::json& value) const {
    if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() ||
        !value[1].is_number_unsigned())
      fail_tensor(tensor, "\"data_offsets\" is " + value.dump() +
                              ", expected [begin, end] with non-negative integers");
    uint64_t begin = value[0].get<uint64_t>(), end = value[1].get<uint64_t>();
    if (begin > end)
      fail_tensor(tensor, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                              "] end before they begin");
    if (end > data_bytes_)
      fail_tensor(tensor, "data_offsets end at " + std::to_string(end) +
                              ", beyond the data section of " + std::to_string(data_bytes_) +
                              " bytes (truncated file?)");
    return {begin, end};
  }

  std::string path_;
  uint64_t data_bytes_;
};

SafetensorsMetadata parse_metadata(const std::string& path, const nlohmann::json& value) {
  TESSERA_CHECK(value.is_object(), kWhere,
                path + ": \"__metadata__\" is a " + value.type_name() + ", expected an object");
  SafetensorsMetadata metadata;
  for (const auto& [key, text] : value.items()) {
    TESSERA_CHECK(
        text.is_string(), kWhere,
        path + ": __metadata__[\"" + key + "\"] is a " + text.type_name() + ", expected a string");
    metadata.emplace(key, text.get<std::string>());
  }
  return metadata;
}

// Tensors may leave gaps between them but must never share bytes: overlapping regions would let
// one tensor alias another's data.
void check_no_overlap(const std::string& path, std::vector<const TensorEntry*> entries) {
  std::sort(entries.begin(), entries.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  const TensorEntry* furthest = nullptr;  // the entry reaching furthest so far
  for (const TensorEntry* entry : entries) {
    if (entry->begin == entry->end) continue;  // empty tensors occupy nothing
    if (furthest && entry->begin < furthest->end)
      fail(kWhere, path + ": tensors '" + furthest->name + "' [" + std::to_string(furthest->begin) +
                       ", " + std::to_string(furthest->end) + ") and '" + entry->name + "' [" +
                       std::to_string(entry->begin) + ", " + std::to_string(entry->end) +
                       ") overlap");
    furthest = entry;
  }
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  TESSERA_CHECK(file->size() >= kLengthPrefixBytes, kWhere,
                path + ": file is " + std::to_string(file->size()) +
                    " bytes, shorter than the 8-byte header length");
  uint64_t header_bytes = read_le64(file->data());
  TESSERA_CHECK(header_bytes <= kMaxHeaderBytes, kWhere,
                path + ": header length " + std::to_string(header_bytes) +
                    " is absurd (limit 100 MB); not a safetensors file?");
  TESSERA_CHECK(header_bytes <= file->size() - kLengthPrefixBytes, kWhere,
                path + ": header length " + std::to_string(header_bytes) +
                    " exceeds the file size " + std::to_string(file->size()) +
                    " (truncated file?)");
  std::string_view header_text(reinterpret_cast<const char*>(file->data()) + kLengthPrefixBytes,
                               header_bytes);
  nlohmann::json header = io::parse_json(header_text, kWhere, path + " header");
  TESSERA_CHECK(header.is_object(), kWhere,
                path + ": header is a JSON " + header.type_name() + ", expected an object");

  const uint64_t data_start = kLengthPrefixBytes + header_bytes;
  HeaderParser parser(path, file->size() - data_start);
  std::vector<TensorEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__")
      metadata_ = parse_metadata(path, value);
    else
      entries.push_back(parser.parse_entry(key, value));
  }
  std::vector<const TensorEntry*> by_offset;
  for (const TensorEntry& entry : entries) by_offset.push_back(&entry);
  check_no_overlap(path, std::move(by_offset));

  for (TensorEntry& entry : entries) {
    auto storage = io::tensor_storage(file, data_start + entry.begin, entry.end - entry.begin,
                                      entry.dtype, kWhere, path + ": tensor '" + entry.name + "'");
    tensors_.emplace(entry.name,
                     Array::from_buffer(std::move(storage), std::move(entry.shape), entry.dtype));
  }
}

TensorMap load_safetensors(const std::string& path) { return SafetensorsFile(path).tensors(); }

TensorMap load_safetensors_index(const std::string& index_json_path) {
  return io::load_sharded_checkpoint(index_json_path, kWhere, load_safetensors);
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const SafetensorsMetadata& metadata) {
  std::vector<std::pair<std::string, Array>> ordered;
  for (const auto& [name, array] : tensors) {
    TESSERA_CHECK(array.valid(), kWhere, path + ": tensor '" + name + "' is an empty handle");
    TESSERA_CHECK(name != "__metadata__", kWhere,
                  path + ": \"__metadata__\" is reserved and cannot name a tensor");
    // An empty tensor has no bytes to read, so it is never evaluated.
    ordered.emplace_back(name, array.size() == 0 ? array : contiguous(array));
  }
  std::vector<Array> to_evaluate;
  for (const auto& [name, array] : ordered)
    if (array.size() > 0) to_evaluate.push_back(array);
  eval(to_evaluate);
  // Widest dtypes first: the data section starts 8-byte aligned, so every tensor is then aligned
  // for its dtype and loads without a copy. stable_sort keeps names in order within a width.
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return itemsize(a.second.dtype()) > itemsize(b.second.dtype());
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, array] : ordered) {
    uint64_t bytes = array.nbytes();
    header[name] = {{"dtype", std::string(safetensors_name(array.dtype()))},
                    {"shape", array.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  // Padded with spaces to a multiple of 8, as the reference implementation does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  io::write_file_atomically(path, kWhere, [&](const io::WriteBytes& write) {
    std::array<uint8_t, kLengthPrefixBytes> length_prefix{};
    for (size_t i = 0; i < length_prefix.size(); ++i)
      length_prefix[i] = uint8_t(uint64_t(header_text.size()) >> (8 * i));
    write(length_prefix.data(), length_prefix.size());
    write(header_text.data(), header_text.size());
    for (const auto& [name, array] : ordered) {
      if (array.nbytes() == 0) continue;
      const auto* first = static_cast<const uint8_t*>(array.buffer()->host()) +
                          array.offset() * int64_t(itemsize(array.dtype()));
      write(first, array.nbytes());
    }
  });
}

}  // namespace tessera
