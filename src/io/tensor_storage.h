#pragma once
// Turning a region of a checkpoint file into the storage of a tensor.
#include <memory>
#include <string>

#include "tessera/buffer.h"
#include "tessera/dtype.h"

namespace tessera::io {

// [offset, offset + bytes) of `file` as a Buffer of `dtype` elements. The region is mapped (no
// copy) when its address is aligned for the dtype. Neither format promises alignment
// (safetensors offsets are arbitrary; a hand-made zip need not pad its entries), and kernels load
// elements through typed pointers, which must be aligned; so a misaligned region, which real
// checkpoints practically never have, is copied into an aligned host buffer instead.
// `where`/`what` name the format and the tensor in errors.
std::shared_ptr<Buffer> tensor_storage(const std::shared_ptr<MappedFile>& file, size_t offset,
                                       size_t bytes, Dtype dtype, const std::string& where,
                                       const std::string& what);

// A C++ bool holding any byte but 0 or 1 is undefined behaviour, so bool storage from a file is
// checked before any kernel reads it.
void check_bool_bytes(const void* data, size_t bytes, const std::string& where,
                      const std::string& what);

}  // namespace tessera::io
