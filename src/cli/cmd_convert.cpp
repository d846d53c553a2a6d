// `tessera convert MODEL --output DIR [--quantize 4|8] [--group-size 64] [--calibrate TEXTS]
//                  [--dtype ...]`
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "models/weights.h"
#include "runtime/calibration.h"

namespace tessera::cli {

int cmd_convert(int argc, char** argv) {
  CLI::App app("Write a model directory in another dtype or with quantized Linear weights",
               "convert");
  std::string model, output, calibration;
  DeviceDtypeOptions dd;
  app.add_option("MODEL", model, "model directory or hub id in the local cache")->required();
  app.add_option("--output", output,
                 "directory to write (config.json, model.safetensors, tokenizer)")
      ->required();
  app.add_option(
      "--calibrate", calibration,
      "with --quantize: a text file, one text per line, whose activations choose the quantized "
      "values (lower error than round-to-nearest, same format)");
  dd.add_to(app);
  if (auto code = parse_args(app, argc, argv)) return *code;
  LoadOptions options = dd.load_options();
  if (!calibration.empty()) {
    TESSERA_CHECK(options.quantize.has_value(), "convert", "--calibrate needs --quantize 2|4|8");
    check_quantization_spec(*options.quantize, "--quantize");
    options.calibration = std::make_shared<const LinearInputStatistics>(
        collect_linear_input_statistics(model, read_calibration_texts(calibration), options));
  }
  convert_model(model, output, options);
  return 0;
}

}  // namespace tessera::cli
