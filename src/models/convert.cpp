// convert_model: a model directory rewritten as tessera loads it (dtype, MLX-format quantization),
// so every command and MLX itself can run the result.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/registry.h"
#include "tessera/checkpoint.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {

namespace fs = std::filesystem;

namespace {

// `relative` is the path inside the model directory: only the top-level config.json is the
// model's (1_Pooling/config.json is sentence-transformers' and is copied).
bool is_checkpoint_file(const fs::path& relative) {
  const fs::path& p = relative;
  const std::string name = p.filename().string();
  return relative == "config.json" || p.extension() == ".safetensors" || p.extension() == ".bin" ||
         name.ends_with(".index.json") || p.extension() == ".h5" || p.extension() == ".msgpack" ||
         p.extension() == ".onnx" || p.extension() == ".ot";
}

// config.json with the compute dtype and, when quantized, MLX's "quantization" entry.
void write_config(const std::string& source_dir, const std::string& out_dir, const LoadOptions& options) {
  const std::string source = source_dir + "/config.json";
  std::ifstream in(source);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail("convert", source + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  config["torch_dtype"] = name(options.dtype);
  if (options.quantize)
    config["quantization"] = {{"group_size", options.quantize->group_size}, {"bits", options.quantize->bits}};
  const std::string path = out_dir + "/config.json";
  std::ofstream out(path);
  out << config.dump(2) << "\n";
  TESSERA_CHECK(bool(out), "convert", path + ": cannot write");
}

}  // namespace

void convert_model(const std::string& model, const std::string& out_dir, const LoadOptions& options) {
  const std::string dir = resolve_model_dir(model);
  TESSERA_CHECK(fs::weakly_canonical(dir) != fs::weakly_canonical(out_dir), "convert",
                "the output directory must differ from the model directory " + dir);
  // Without --quantize a quantized checkpoint keeps its packed layers and its format.
  TESSERA_CHECK(!options.quantize || !ModelConfig::load(dir).has("quantization"), "convert",
                dir + " is already quantized; convert the float checkpoint instead");
  LoadOptions collect = options;
  collect.fuse_projections = false;  // the file holds the checkpoint's own layers
  BuiltModel built = build_model(dir, collect);
  TensorMap tensors;
  for (const auto& [key, value] : built.weights.loaded()) tensors[key] = to_device(value, Device::cpu());

  std::error_code error;
  fs::create_directories(out_dir, error);
  TESSERA_CHECK(!error, "convert", out_dir + ": cannot create (" + error.message() + ")");
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    const fs::path relative = fs::relative(entry.path(), dir);
    if (entry.is_directory() || is_checkpoint_file(relative) || relative.string().starts_with("."))
      continue;
    fs::create_directories(fs::path(out_dir) / relative.parent_path());
    fs::copy_file(entry.path(), fs::path(out_dir) / relative, fs::copy_options::overwrite_existing, error);
    TESSERA_CHECK(!error, "convert", "cannot copy " + entry.path().string() + " (" + error.message() + ")");
  }
  // "pt" lets transformers load a float result; quantized files are MLX's own format.
  save_safetensors(out_dir + "/model.safetensors", tensors, {{"format", options.quantize ? "mlx" : "pt"}});
  write_config(dir, out_dir, options);
}

}  // namespace tessera
