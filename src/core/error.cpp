#include "tessera/error.h"

namespace tessera {

void fail(const std::string& where, const std::string& message) {
  throw Error("[" + where + "] " + message);
}

}  // namespace tessera
