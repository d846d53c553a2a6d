#pragma once
// Reading entries of a zip archive (as torch.save writes them) straight from a mapped file.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/buffer.h"

namespace tessera::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t data_offset = 0;  // of the (possibly compressed) bytes in the file
};

class ZipArchive {
 public:
  // Reads the central directory (zip64 included) and checks that every entry's bytes lie in the
  // file. Errors name `file`'s path.
  explicit ZipArchive(std::shared_ptr<MappedFile> file);

  const std::shared_ptr<MappedFile>& file() const { return file_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;  // nullptr when absent

  // The uncompressed bytes of a deflated entry, CRC-checked. Stored entries need no call: their
  // bytes are file()->data() + data_offset, to be mapped in place.
  std::shared_ptr<Buffer> inflate(const ZipEntry& entry) const;

 private:
  std::shared_ptr<MappedFile> file_;
  std::vector<ZipEntry> entries_;
};

}  // namespace tessera::io
