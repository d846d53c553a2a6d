// `tessera forward MODEL --inputs IN.safetensors --output OUT.safetensors`
#include "cli/args.h"
#include "cli/commands.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera::cli {

int cmd_forward(int argc, char** argv) {
  CLI::App app("Run a model's forward pass on inputs from a safetensors file", "forward");
  std::string model, inputs_path, output_path;
  DeviceDtypeOptions dd;
  app.add_option("MODEL", model, "model directory or hub id in the local cache")->required();
  app.add_option("--inputs", inputs_path, "safetensors with input_ids [B,S] (+ attention_mask, token_type_ids)")->required();
  app.add_option("--output", output_path, "where to write the float32 outputs (safetensors)")->required();
  bool skip_padding = false;
  app.add_flag("--skip-padding", skip_padding,
               "compute real tokens only (packed); outputs at padded positions are zero");
  dd.add_to(app);
  if (auto code = parse_args(app, argc, argv)) return *code;

  LoadOptions options = dd.load_options();
  TensorMap in = load_safetensors(inputs_path);
  auto input = [&](const char* key) -> std::optional<Array> {
    auto it = in.find(key);
    if (it == in.end()) return std::nullopt;
    return it->second;
  };
  TESSERA_CHECK(input("input_ids").has_value(), "forward", inputs_path + ": no tensor named input_ids");
  std::unique_ptr<Model> m = load_model(model, options);
  ModelInputs model_inputs{*input("input_ids"), input("attention_mask"), input("token_type_ids")};
  model_inputs.skip_padding = skip_padding;
  ModelOutputs outputs = m->forward(model_inputs);
  TensorMap result;
  for (auto& [field, value] : outputs) result[field] = to_device(astype(value, Dtype::float32), Device::cpu());
  save_safetensors(output_path, result);
  return 0;
}

}  // namespace tessera::cli
