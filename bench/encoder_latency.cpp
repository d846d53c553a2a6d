// Encoder forward latency on one device: `encoder_latency MODEL_DIR [options]` times a BERT-family
// model (random-init bert-base written into MODEL_DIR when it holds no config.json) at several
// batch x sequence shapes and dtypes: warm-up, then the median and p90 of timed runs, each run
// being forward + evaluation of every output + waiting for the device. On CUDA it also reports the
// allocator's peak and, with --graph, the same shapes replayed as CUDA graphs; with --padding,
// also the packed forward that skips padding tokens (ModelInputs::skip_padding). The inputs are
// the ones bench/peers/pytorch_encoder.py builds, so the two print comparable CSV rows:
//   engine,device,dtype,batch,seq,padding,mode,median_ms,p90_ms,peak_mib
//
// Options: --device cpu|cuda  --dtypes float32,float16,bfloat16  --shapes 1x128,8x128
//          --runs 20  --warmup 3  --padding 0.5 (fraction of each row that is padding)  --graph
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/model.h"
#include "tessera/ops.h"
#include "tessera/threading.h"
#ifdef TESSERA_HAS_CUDA
#include "tessera/cuda.h"
#endif

namespace {

using namespace tessera;

// bert-base-uncased's published config.json, with the base model class.
constexpr const char* kBertBaseConfig = R"({
  "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
  "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
  "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522, "pad_token_id": 0,
  "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
  "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1, "initializer_range": 0.02
})";

struct Options {
  std::string model_dir, device = "cuda";
  std::vector<std::string> dtypes = {"float32", "float16", "bfloat16"};
  std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 128}, {8, 128}, {32, 128}, {32, 512}, {128, 128}};
  int runs = 20, warmup = 3;
  double padding = 0.0;
  bool graph = false;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> items;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

Options parse(int argc, char** argv) {
  if (argc < 2) fail("encoder_latency", "usage: encoder_latency MODEL_DIR [--device D] [--dtypes ..] [--shapes BxS,..] "
                                        "[--runs N] [--warmup N] [--padding F] [--graph]");
  Options o;
  o.model_dir = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("encoder_latency", flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--device") o.device = value();
    else if (flag == "--dtypes") o.dtypes = split_list(value());
    else if (flag == "--runs") o.runs = std::stoi(value());
    else if (flag == "--warmup") o.warmup = std::stoi(value());
    else if (flag == "--padding") o.padding = std::stod(value());
    else if (flag == "--graph") o.graph = true;
    else if (flag == "--shapes") {
      o.shapes.clear();
      for (const std::string& s : split_list(value())) {
        size_t x = s.find('x');
        if (x == std::string::npos) fail("encoder_latency", "shape '" + s + "' is not BxS");
        o.shapes.push_back({std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1))});
      }
    } else {
      fail("encoder_latency", "unknown option " + flag);
    }
  }
  return o;
}

// Token ids every engine can rebuild: pseudo-random in [1000, 30000), the last `padding` share of
// each row is padding (id 0, mask 0). pytorch_encoder.py uses the same formula.
ModelInputs make_inputs(int64_t batch, int64_t seq, double padding) {
  std::vector<int64_t> ids(size_t(batch * seq)), mask(ids.size()), types(ids.size(), 0);
  int64_t real = seq - int64_t(padding * double(seq));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s) {
      size_t i = size_t(b * seq + s);
      bool is_real = s < real;
      ids[i] = is_real ? 1000 + (b * 7919 + s * 104729) % 29000 : 0;
      mask[i] = is_real ? 1 : 0;
    }
  Shape shape = {batch, seq};
  return {Array(ids, shape), Array(mask, shape), Array(types, shape)};
}

void wait_for_device(Device device) {
#ifdef TESSERA_HAS_CUDA
  if (device.type == DeviceType::cuda) cuda::synchronize();
#endif
}

struct Timing {
  double median_ms, p90_ms;
};

template <typename Run>
Timing time_runs(const Options& o, Device device, Run run) {
  for (int i = 0; i < o.warmup; ++i) run();
  wait_for_device(device);
#ifdef TESSERA_HAS_CUDA
  if (device.type == DeviceType::cuda) cuda::profiler_start();  // profilers record the timed runs only
#endif
  std::vector<double> ms;
  for (int i = 0; i < o.runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    wait_for_device(device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
#ifdef TESSERA_HAS_CUDA
  if (device.type == DeviceType::cuda) cuda::profiler_stop();
#endif
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)]};
}

void evaluate(const ModelOutputs& outputs) {
  std::vector<Array> arrays;
  for (const auto& [field, a] : outputs) arrays.push_back(a);
  eval(arrays);
}

double peak_mib(Device device) {
#ifdef TESSERA_HAS_CUDA
  if (device.type == DeviceType::cuda) return double(cuda::memory_stats().peak_allocated) / (1 << 20);
#endif
  return 0.0;
}

void reset_peak(Device device) {
#ifdef TESSERA_HAS_CUDA
  if (device.type == DeviceType::cuda) cuda::reset_peak_memory();
#endif
}

void print_row(const Options& o, const std::string& dtype, int64_t batch, int64_t seq, const char* mode, Timing t,
               double peak) {
  std::printf("tessera,%s,%s,%lld,%lld,%.2f,%s,%.3f,%.3f,%.1f\n", o.device.c_str(), dtype.c_str(), (long long)batch,
              (long long)seq, o.padding, mode, t.median_ms, t.p90_ms, peak);
  std::fflush(stdout);
}

void run(const Options& o) {
  namespace fs = std::filesystem;
  if (!fs::exists(fs::path(o.model_dir) / "config.json")) {
    fs::create_directories(o.model_dir);
    std::ofstream(fs::path(o.model_dir) / "config.json") << kBertBaseConfig;
    write_random_checkpoint(o.model_dir, 0);
  }
  Device device = parse_device(o.device);
  set_default_device(device);
  std::printf("engine,device,dtype,batch,seq,padding,mode,median_ms,p90_ms,peak_mib\n");
  for (const std::string& dtype_name : o.dtypes) {
    auto dtype = dtype_from_name(dtype_name);
    if (!dtype) fail("encoder_latency", "unknown dtype " + dtype_name);
    std::unique_ptr<Model> model = load_model(o.model_dir, {device, *dtype});
    for (auto [batch, seq] : o.shapes) {
      ModelInputs inputs = make_inputs(batch, seq, o.padding);
      reset_peak(device);
      Timing eager = time_runs(o, device, [&] { evaluate(model->forward(inputs)); });
      print_row(o, dtype_name, batch, seq, "eager", eager, peak_mib(device));
      if (o.padding > 0) {  // the padding tokens skipped: real tokens run packed
        ModelInputs packed = inputs;
        packed.skip_padding = true;
        reset_peak(device);
        Timing t = time_runs(o, device, [&] { evaluate(model->forward(packed)); });
        print_row(o, dtype_name, batch, seq, "packed", t, peak_mib(device));
      }
#ifdef TESSERA_HAS_CUDA
      if (o.graph && device.type == DeviceType::cuda) {
        cuda::GraphedModel graphed(*model);
        reset_peak(device);
        Timing replay = time_runs(o, device, [&] { evaluate(graphed.forward(inputs)); });
        print_row(o, dtype_name, batch, seq, "graph", replay, peak_mib(device));
      }
#endif
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  tessera::choose_openmp_waits(argv);  // as the tessera command runs
  try {
    run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "encoder_latency: %s\n", e.what());
    return 1;
  }
  return 0;
}
