#include "tessera/device.h"

#include "tessera/buffer.h"
#include "tessera/error.h"

namespace tessera {

namespace {
thread_local Device g_default_device = Device::cpu();
}

std::string to_string(Device d) {
  return d.type == DeviceType::cpu ? "cpu" : "cuda:" + std::to_string(d.index);
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda" || s == "gpu") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return Device::cuda(std::stoi(s.substr(5)));
    } catch (const std::exception&) {
    }
  }
  fail("device", "unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
}

Device default_device() { return g_default_device; }
void set_default_device(Device d) {
  if (d.type == DeviceType::cuda && !cuda_available())
    fail("device", "cuda requested but no CUDA backend or GPU is available");
  g_default_device = d;
}

}  // namespace tessera
