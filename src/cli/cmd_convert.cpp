// `tessera convert MODEL --output DIR [--quantize 4|8] [--group-size 64] [--dtype ...]`
#include "cli/args.h"
#include "cli/commands.h"

namespace tessera::cli {

int cmd_convert(int argc, char** argv) {
  CLI::App app("Write a model directory in another dtype or with quantized Linear weights", "convert");
  std::string model, output;
  DeviceDtypeOptions dd;
  app.add_option("MODEL", model, "model directory or hub id in the local cache")->required();
  app.add_option("--output", output, "directory to write (config.json, model.safetensors, tokenizer)")->required();
  dd.add_to(app);
  if (auto code = parse_args(app, argc, argv)) return *code;
  convert_model(model, output, dd.load_options());
  return 0;
}

}  // namespace tessera::cli
