#pragma once
// Helpers shared by the io tests: scratch directories, raw files, and error expectations.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "tessera/array.h"
#include "tessera/error.h"
#include "tessera/ops.h"

namespace tessera::io_test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tessera_io_XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

inline std::string fixture(const std::string& name) {
  return std::string(TESSERA_FIXTURES) + "/io/" + name;
}

// The contiguous bytes of an array, for exact comparisons of any dtype.
inline std::vector<uint8_t> bytes_of(const Array& a) {
  if (a.size() == 0) return {};
  Array c = contiguous(a);
  eval(c);
  const auto* first =
      static_cast<const uint8_t*>(c.buffer()->host()) + c.offset() * int64_t(itemsize(c.dtype()));
  return std::vector<uint8_t>(first, first + c.nbytes());
}

// Runs `action`, expecting a tessera::Error whose message contains every one of `fragments`.
inline void expect_error(const std::function<void()>& action,
                         const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected a tessera::Error mentioning \"" << fragments.front() << "\"";
  } catch (const Error& e) {
    for (const std::string& fragment : fragments)
      EXPECT_NE(std::strstr(e.what(), fragment.c_str()), nullptr)
          << "message \"" << e.what() << "\" lacks \"" << fragment << "\"";
  }
}

}  // namespace tessera::io_test
