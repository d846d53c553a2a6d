#include "tessera/threading.h"

#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace tessera {

void choose_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("TESSERA_NO_REEXEC")) return;
  if (std::thread::hardware_concurrency() <= 4)
    setenv("OMP_WAIT_POLICY", "passive", 1);
  else
    setenv("GOMP_SPINCOUNT", "1000000", 1);
  setenv("TESSERA_NO_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

}  // namespace tessera
