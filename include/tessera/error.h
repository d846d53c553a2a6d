#pragma once
// Every failure tessera reports is a tessera::Error: one line that names where it happened
// ("[matmul] shapes (2,3) and (4,5) do not ...").  The CLI prints what() and exits non-zero.
#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Formats and throws an Error; `where` is the op or component name.
[[noreturn]] void fail(const std::string& where, const std::string& message);

}  // namespace tessera

#define TESSERA_CHECK(cond, where, msg)     \
  do {                                      \
    if (!(cond)) ::tessera::fail(where, msg); \
  } while (0)
