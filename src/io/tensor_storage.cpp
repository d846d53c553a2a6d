#include "io/tensor_storage.h"

#include <cstdint>
#include <cstring>

#include "tessera/error.h"

namespace tessera::io {

std::shared_ptr<Buffer> tensor_storage(const std::shared_ptr<MappedFile>& file, size_t offset,
                                       size_t bytes, Dtype dtype, const std::string& where,
                                       const std::string& what) {
  TESSERA_CHECK(offset <= file->size() && bytes <= file->size() - offset, where,
                what + ": bytes [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                    ") lie outside the file");
  const uint8_t* start = file->data() + offset;
  std::shared_ptr<Buffer> storage;
  if (bytes == 0 || reinterpret_cast<uintptr_t>(start) % itemsize(dtype) == 0) {
    storage = Buffer::map(file, offset, bytes);
  } else {
    storage = Buffer::allocate_host(bytes);
    std::memcpy(storage->mutable_host(), start, bytes);
  }
  if (dtype == Dtype::bool_) check_bool_bytes(start, bytes, where, what);
  return storage;
}

void check_bool_bytes(const void* data, size_t bytes, const std::string& where,
                      const std::string& what) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < bytes; ++i)
    TESSERA_CHECK(p[i] <= 1, where,
                  what + ": bool element " + std::to_string(i) + " holds byte " +
                      std::to_string(p[i]) + " (only 0 and 1 are valid)");
}

}  // namespace tessera::io
