#include "tessera/device.h"

#include "tessera/buffer.h"
#include "tessera/error.h"

#include <atomic>

namespace tessera {

namespace {
thread_local Stream g_default_stream{Device::cpu(), 0};
std::atomic<int> g_next_stream_index{1};
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

std::string to_string(Stream s) { return to_string(s.device) + "/stream" + std::to_string(s.index); }

Device default_device() { return g_default_stream.device; }

void set_default_device(Device d) {
  if (d == g_default_stream.device) return;
  set_default_stream({d, 0});
}

Stream default_stream() { return g_default_stream; }

void set_default_stream(Stream s) {
  if (s.device.type == DeviceType::cuda && !cuda_available())
    fail("device", "cuda requested but no CUDA backend or GPU is available");
  g_default_stream = s;
}

Stream new_stream(Device d) { return {d, d.type == DeviceType::cpu ? 0 : g_next_stream_index++}; }

}  // namespace tessera
