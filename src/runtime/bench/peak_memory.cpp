#include "runtime/bench/peak_memory.h"

#include <fstream>
#include <string>

namespace tessera::bench {

void reset_peak_rss() {
  // "5" resets only the peak RSS counter; where /proc is unavailable the peak covers the process.
  std::ofstream("/proc/self/clear_refs") << "5";
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0 / 1e6;  // reported in kB
  return 0;
}

}  // namespace tessera::bench
