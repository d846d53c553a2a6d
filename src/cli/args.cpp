#include "cli/args.h"

#include <iostream>

namespace tessera::cli {

std::optional<int> parse_args(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    fail(app.get_name(), e.what());
  }
  return std::nullopt;
}

void DeviceDtypeOptions::add_to(CLI::App& app) {
  app.add_option("--device", device, "cpu or cuda")->default_val("cpu");
  app.add_option("--dtype", dtype, "compute dtype: float32, float16 or bfloat16")->default_val("float32");
  app.add_option("--quantize", quantize_bits,
                 "quantize Linear weights at load to 2, 4 or 8 bits (MLX's affine format)");
  app.add_option("--group-size", group_size, "quantization group size: 32, 64 or 128")->default_val(64);
  app.add_flag("--int8-compute", int8_compute,
               "8-bit layers compute in int8 (activations quantized per token and group; faster, approximate)");
}

LoadOptions DeviceDtypeOptions::load_options() const {
  LoadOptions o;
  o.device = parse_device(device);
  auto d = dtype_from_name(dtype);
  TESSERA_CHECK(d && is_floating(*d), "options",
                "unknown --dtype '" + dtype + "' (expected float32, float16 or bfloat16)");
  o.dtype = *d;
  if (quantize_bits != 0) o.quantize = QuantizationSpec{group_size, quantize_bits};
  o.int8_compute = int8_compute;
  if (o.device.type == DeviceType::cuda) set_default_device(o.device);
  return o;
}

}  // namespace tessera::cli
