#pragma once
#include <string>

namespace tessera {

enum class DeviceType { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool operator==(const Device&) const = default;
};

std::string to_string(Device d);
Device parse_device(const std::string& s);  // "cpu", "cuda", "cuda:1"

// The device new ops run on unless one is given. Per thread, like MLX's default stream.
Device default_device();
void set_default_device(Device d);

// True when the CUDA backend is compiled in and a GPU is visible.
bool cuda_available();

}  // namespace tessera
