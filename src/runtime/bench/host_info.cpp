#include "runtime/bench/host_info.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tessera/device.h"

namespace tessera::bench {

namespace {

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string utc_now() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

}  // namespace

double load_average_1min() {
  double loads[1] = {0};
  return getloadavg(loads, 1) == 1 ? loads[0] : -1;
}

nlohmann::json describe_host(const std::string& command_line) {
  return {{"cpu", cpu_model()},
          {"cores", std::thread::hardware_concurrency()},
          {"cuda_available", cuda_available()},
          {"load_average_1min", load_average_1min()},
          {"command", command_line},
          {"time_utc", utc_now()}};
}

}  // namespace tessera::bench
