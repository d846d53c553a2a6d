#include "io/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "tessera/error.h"

namespace tessera::io {

namespace {

constexpr const char* kWhere = "zip";
constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDirectory = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kCentralDirectoryHeader = 0x02014b50;
constexpr uint32_t kLocalFileHeader = 0x04034b50;
constexpr uint16_t kZip64ExtraField = 0x0001;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kMethodDeflate = 8;
constexpr size_t kEndRecordBytes = 22;
constexpr size_t kMaxCommentBytes = 0xffff;

// Bounds-checked little-endian reads over the mapped file; every read of a hostile archive goes
// through here, so a bad offset is an error, never an out-of-bounds read.
class ByteReader {
 public:
  explicit ByteReader(const MappedFile& file) : file_(file) {}

  void need(uint64_t offset, uint64_t bytes, const char* what) const {
    if (offset > file_.size() || bytes > file_.size() - offset)
      fail(kWhere, file_.path() + ": " + what + " at byte " + std::to_string(offset) +
                       " runs past the end of the file (truncated archive?)");
  }
  template <typename T>
  T read(uint64_t offset, const char* what) const {
    need(offset, sizeof(T), what);
    T value = 0;
    for (size_t i = 0; i < sizeof(T); ++i) value |= T(file_.data()[offset + i]) << (8 * i);
    return value;
  }
  std::string text(uint64_t offset, uint64_t bytes, const char* what) const {
    need(offset, bytes, what);
    return std::string(reinterpret_cast<const char*>(file_.data()) + offset, bytes);
  }

 private:
  const MappedFile& file_;
};

struct CentralDirectory {
  uint64_t entry_count;
  uint64_t offset;
};

CentralDirectory find_central_directory(const MappedFile& file, const ByteReader& reader) {
  // The end record sits in the last 22 bytes plus up to 64 KiB of comment; scan backwards.
  TESSERA_CHECK(
      file.size() >= kEndRecordBytes, kWhere,
      file.path() + ": " + std::to_string(file.size()) + " bytes is too short for a zip archive");
  uint64_t lowest =
      file.size() - std::min<uint64_t>(file.size(), kEndRecordBytes + kMaxCommentBytes);
  for (uint64_t at = file.size() - kEndRecordBytes + 1; at-- > lowest;) {
    if (reader.read<uint32_t>(at, "end record") != kEndOfCentralDirectory) continue;
    CentralDirectory directory{reader.read<uint16_t>(at + 10, "end record"),
                               reader.read<uint32_t>(at + 16, "end record")};
    bool needs_zip64 = directory.entry_count == 0xffff || directory.offset == 0xffffffff;
    if (needs_zip64 && at >= 20 &&
        reader.read<uint32_t>(at - 20, "zip64 locator") == kZip64Locator) {
      uint64_t record = reader.read<uint64_t>(at - 20 + 8, "zip64 locator");
      TESSERA_CHECK(
          reader.read<uint32_t>(record, "zip64 end record") == kZip64EndOfCentralDirectory, kWhere,
          file.path() + ": zip64 end record not found where the locator points");
      directory.entry_count = reader.read<uint64_t>(record + 32, "zip64 end record");
      directory.offset = reader.read<uint64_t>(record + 48, "zip64 end record");
    }
    return directory;
  }
  fail(kWhere, file.path() + ": not a zip archive, or truncated (no end of central directory)");
}

// Replaces the 0xffffffff placeholders of a central directory entry with its zip64 values.
void apply_zip64_extra(const ByteReader& reader, uint64_t extra, uint64_t extra_end,
                       ZipEntry& entry, uint64_t& local_header) {
  while (extra + 4 <= extra_end) {
    uint16_t id = reader.read<uint16_t>(extra, "extra field");
    uint16_t size = reader.read<uint16_t>(extra + 2, "extra field");
    uint64_t field = extra + 4;
    if (id == kZip64ExtraField) {
      uint64_t end = std::min(field + size, extra_end);
      auto take = [&](uint64_t& value) {
        if (field + 8 <= end) {
          value = reader.read<uint64_t>(field, "zip64 extra field");
          field += 8;
        }
      };
      // Present in this order, and only for the fields whose 32-bit value is the placeholder.
      if (entry.uncompressed_size == 0xffffffff) take(entry.uncompressed_size);
      if (entry.compressed_size == 0xffffffff) take(entry.compressed_size);
      if (local_header == 0xffffffff) take(local_header);
      return;
    }
    extra = field + size;
  }
}

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {
  const MappedFile& f = *file_;
  ByteReader reader(f);
  CentralDirectory directory = find_central_directory(f, reader);
  // Each central entry is at least 46 bytes: a count beyond that is corrupt, not a reason to
  // reserve gigabytes.
  TESSERA_CHECK(directory.entry_count <= f.size() / 46, kWhere,
                f.path() + ": central directory claims " + std::to_string(directory.entry_count) +
                    " entries, more than the file can hold");
  uint64_t at = directory.offset;
  for (uint64_t i = 0; i < directory.entry_count; ++i) {
    TESSERA_CHECK(reader.read<uint32_t>(at, "central directory entry") == kCentralDirectoryHeader,
                  kWhere, f.path() + ": corrupt central directory entry " + std::to_string(i));
    ZipEntry entry;
    uint16_t flags = reader.read<uint16_t>(at + 8, "central directory entry");
    entry.method = reader.read<uint16_t>(at + 10, "central directory entry");
    entry.crc32 = reader.read<uint32_t>(at + 16, "central directory entry");
    entry.compressed_size = reader.read<uint32_t>(at + 20, "central directory entry");
    entry.uncompressed_size = reader.read<uint32_t>(at + 24, "central directory entry");
    uint16_t name_bytes = reader.read<uint16_t>(at + 28, "central directory entry");
    uint16_t extra_bytes = reader.read<uint16_t>(at + 30, "central directory entry");
    uint16_t comment_bytes = reader.read<uint16_t>(at + 32, "central directory entry");
    uint64_t local_header = reader.read<uint32_t>(at + 42, "central directory entry");
    entry.name = reader.text(at + 46, name_bytes, "entry name");
    uint64_t extra = at + 46 + name_bytes;
    reader.need(extra, extra_bytes, "extra field");
    apply_zip64_extra(reader, extra, extra + extra_bytes, entry, local_header);
    TESSERA_CHECK((flags & 0x1) == 0, kWhere, f.path() + ": entry " + entry.name + " is encrypted");

    // The data follows the local header, whose name and extra lengths may differ from the
    // central ones (torch pads the local extra field to align tensor data).
    TESSERA_CHECK(reader.read<uint32_t>(local_header, "local header") == kLocalFileHeader, kWhere,
                  f.path() + ": entry " + entry.name + " has no local header at byte " +
                      std::to_string(local_header));
    entry.data_offset = local_header + 30 +
                        reader.read<uint16_t>(local_header + 26, "local header") +
                        reader.read<uint16_t>(local_header + 28, "local header");
    reader.need(entry.data_offset, entry.compressed_size, "entry data");
    TESSERA_CHECK(entry.method != kMethodStored || entry.compressed_size == entry.uncompressed_size,
                  kWhere, f.path() + ": stored entry " + entry.name + " has different sizes");
    entries_.push_back(std::move(entry));
    at += 46 + uint64_t(name_bytes) + extra_bytes + comment_bytes;
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const ZipEntry& e) { return e.name == name; });
  return it == entries_.end() ? nullptr : &*it;
}

std::shared_ptr<Buffer> ZipArchive::inflate(const ZipEntry& entry) const {
  const std::string what = file_->path() + ": entry " + entry.name;
  TESSERA_CHECK(entry.method == kMethodDeflate, kWhere,
                what + " uses compression method " + std::to_string(entry.method) +
                    " (only stored and deflate are supported)");
  // zlib counts in uInt; entries of 4 GiB and more are far beyond any deflated checkpoint part.
  TESSERA_CHECK(entry.compressed_size <= std::numeric_limits<uInt>::max() &&
                    entry.uncompressed_size <= std::numeric_limits<uInt>::max(),
                kWhere, what + " is too large to inflate");
  auto output = Buffer::allocate_host(entry.uncompressed_size);
  z_stream stream{};
  TESSERA_CHECK(inflateInit2(&stream, -MAX_WBITS) == Z_OK, kWhere, what + ": zlib init failed");
  stream.next_in = const_cast<Bytef*>(file_->data() + entry.data_offset);
  stream.avail_in = uInt(entry.compressed_size);
  stream.next_out = static_cast<Bytef*>(output->mutable_host());
  stream.avail_out = uInt(entry.uncompressed_size);
  int status = ::inflate(&stream, Z_FINISH);
  uint64_t produced = stream.total_out;
  inflateEnd(&stream);
  TESSERA_CHECK(status == Z_STREAM_END && produced == entry.uncompressed_size, kWhere,
                what + ": corrupt deflate data");
  uLong crc = crc32(0L, static_cast<const Bytef*>(output->host()), uInt(produced));
  TESSERA_CHECK(crc == entry.crc32, kWhere, what + ": CRC mismatch (corrupt archive)");
  return output;
}

}  // namespace tessera::io
