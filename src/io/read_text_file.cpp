#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tessera/checkpoint.h"
#include "tessera/error.h"

namespace tessera {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("io", path + ": " + std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) fail("io", path + ": read failed");
  return contents.str();
}

}  // namespace tessera
