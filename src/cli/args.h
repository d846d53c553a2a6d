#pragma once
// Argument parsing for subcommands (CLI11), with its errors turned into tessera's one-line
// errors and the shared --device/--dtype options.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "tessera/model.h"

namespace tessera::cli {

// Parses argv into `app`; returns the exit code to stop with (help printed: 0) or nullopt to go on.
std::optional<int> parse_args(CLI::App& app, int argc, char** argv);

// --device, --dtype and --quantize/--group-size, read into LoadOptions once parsed.
struct DeviceDtypeOptions {
  std::string device = "cpu";
  std::string dtype = "float32";
  int quantize_bits = 0;  // 0: keep the checkpoint's weights as they are
  int group_size = 64;
  bool int8_compute = false;
  void add_to(CLI::App& app);
  LoadOptions load_options() const;
};

}  // namespace tessera::cli
