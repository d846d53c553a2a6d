#pragma once
// Writing a file so that it either appears whole or not at all.
#include <functional>
#include <string>

namespace tessera::io {

// Sink for the bytes of a file being written.
using WriteBytes = std::function<void(const void* data, size_t bytes)>;

// Calls `produce` with a sink writing into a temporary file next to `path`, then flushes it to
// disk and renames it over `path`. If `produce` or any write throws, the temporary file is
// removed and `path` is untouched.
void write_file_atomically(const std::string& path, const std::string& where,
                           const std::function<void(const WriteBytes&)>& produce);

}  // namespace tessera::io
