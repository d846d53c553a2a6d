#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tessera/error.h"

namespace tessera::io {

void write_file_atomically(const std::string& path, const std::string& where,
                           const std::function<void(const WriteBytes&)>& produce) {
  // Same directory as the target, so the rename never crosses a file system. open() with mode
  // 0666 lets the umask decide the permissions, as for any other file the user writes.
  static std::atomic<uint64_t> next_temp_id{0};
  std::string temp_path =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(next_temp_id++);
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail(where, path + ": cannot create " + temp_path + ": " + std::strerror(errno));
  auto fail_with_errno = [&](const std::string& doing) {
    fail(where, path + ": " + doing + ": " + std::strerror(errno));
  };
  try {
    produce([&](const void* data, size_t bytes) {
      const auto* p = static_cast<const char*>(data);
      while (bytes > 0) {
        ssize_t written = ::write(fd, p, bytes);
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) fail_with_errno("write failed");
        p += written;
        bytes -= size_t(written);
      }
    });
    if (::fsync(fd) != 0) fail_with_errno("fsync failed");
    if (::close(fd) != 0) {
      fd = -1;
      fail_with_errno("close failed");
    }
    fd = -1;
    if (std::rename(temp_path.c_str(), path.c_str()) != 0) fail_with_errno("rename failed");
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp_path.c_str());
    throw;
  }
}

}  // namespace tessera::io
