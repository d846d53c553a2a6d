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

// An ordered queue of work on one device, as in MLX: ops placed on different streams of a GPU
// may overlap; on the CPU every stream runs in order on the calling thread. Index 0 is the
// device's default stream.
struct Stream {
  Device device;
  int index = 0;
  bool operator==(const Stream&) const = default;
};

std::string to_string(Device d);
std::string to_string(Stream s);
Device parse_device(const std::string& s);  // "cpu", "cuda", "cuda:1"

// The device new ops run on unless one is given. Per thread, like MLX's default stream.
Device default_device();
void set_default_device(Device d);

// The stream new ops are placed on: the default device's current stream (0 unless changed).
Stream default_stream();
void set_default_stream(Stream s);  // also makes s.device the default device
Stream new_stream(Device d);        // a fresh stream index on d

// True when the CUDA backend is compiled in and a GPU is visible.
bool cuda_available();

}  // namespace tessera
