// Quantized (MLX affine format) vs float32 and bfloat16 on the CPU: one BERT-base Linear layer
// (768 -> 3072 and 3072 -> 768) at 1, 128 and 4096 token rows, and the whole random-init
// BERT-base encoder (configs/bert-base-uncased) at 1x1 (decode-shaped: weight streaming), 1x128
// and 32x128. Counters: weight bytes read
// per call and per token, and the rate at which the weights stream (compare with the machine's
// memory bandwidth). docs/benchmarks.md "## Quantization" holds the numbers.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "tessera/model.h"
#include "tessera/ops.h"
#include "tessera/threading.h"

namespace {

using namespace tessera;

// float32 / bfloat16: dense weights; q8 / q4: MLX format, group 64; "_bf16": bfloat16 activations.
enum Variant { kFloat32, kBfloat16, kQ8, kQ4, kQ8Bf16, kQ4Bf16 };
const char* const kVariantNames[] = {"float32", "bfloat16", "q8", "q4", "q8_bf16", "q4_bf16"};

Dtype activation_dtype(Variant v) {
  return v == kBfloat16 || v == kQ8Bf16 || v == kQ4Bf16 ? Dtype::bfloat16 : Dtype::float32;
}
std::optional<QuantizationSpec> quantization(Variant v) {
  if (v == kQ8 || v == kQ8Bf16) return QuantizationSpec{64, 8};
  if (v == kQ4 || v == kQ4Bf16) return QuantizationSpec{64, 4};
  return std::nullopt;
}

void BM_Linear(benchmark::State& state) {
  const int64_t rows = state.range(0), in = state.range(1), out = state.range(2);
  const Variant variant = Variant(state.range(3));
  const Dtype dtype = activation_dtype(variant);
  Array w = astype(random::normal({out, in}, Dtype::float32, 1, 0.0, 0.02), dtype);
  Array x = astype(random::normal({rows, in}, Dtype::float32, 2), dtype);
  std::function<Array()> layer;
  double weight_bytes = double(w.nbytes());
  if (auto q = quantization(variant)) {
    QuantizedArrays p = quantize(w, q->group_size, q->bits);
    eval({p.weight, p.scales, p.biases, x});
    weight_bytes = double(p.weight.nbytes() + p.scales.nbytes() + p.biases.nbytes());
    layer = [=] { return quantized_matmul(x, p.weight, p.scales, p.biases, true, q->group_size, q->bits); };
  } else {
    eval({w, x});
    layer = [=] { return matmul(x, transpose(w)); };
  }
  for (auto _ : state) eval(layer());
  state.SetLabel(kVariantNames[variant]);
  state.counters["weight_MB"] = weight_bytes / 1e6;
  state.counters["weight_bytes_per_token"] = weight_bytes / double(rows);
  state.counters["weight_GB/s"] = benchmark::Counter(weight_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens/s"] = benchmark::Counter(double(rows), benchmark::Counter::kIsIterationInvariantRate);
}

void linear_args(benchmark::internal::Benchmark* b) {
  for (int64_t rows : {1, 128, 4096})
    for (auto [in, out] : {std::pair<int64_t, int64_t>{768, 3072}, {3072, 768}})
      for (int v = kFloat32; v <= kQ4Bf16; ++v) b->Args({rows, in, out, v});
}
BENCHMARK(BM_Linear)->Apply(linear_args)->Unit(benchmark::kMillisecond)->MinTime(0.5);

const std::filesystem::path kRepository = std::filesystem::path(__FILE__).parent_path().parent_path();

// BERT-base written once (random init) into a temporary directory.
std::string bert_base_dir() {
  static const std::string dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() / "tessera_bench_bert_base";
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(kRepository / "configs/bert-base-uncased/config.json",
                               d / "config.json", std::filesystem::copy_options::overwrite_existing);
    if (!std::filesystem::exists(d / "model.safetensors")) write_random_checkpoint(d.string(), 1);
    return d.string();
  }();
  return dir;
}

// Bytes of BERT-base's Linear weights (12 layers of 4 x 768x768 + 768x3072 + 3072x768) as each
// variant stores them: what one forward streams from memory, whatever the batch.
double bert_base_linear_bytes(Variant v) {
  const double params = 12.0 * (4 * 768 * 768 + 2 * 768 * 3072);
  const double activation_bytes = activation_dtype(v) == Dtype::bfloat16 ? 2 : 4;
  if (auto q = quantization(v)) return params * q->bits / 8 + params / q->group_size * 2 * activation_bytes;
  return params * activation_bytes;
}

// Reading memory as fast as the threads can (a sum over 512 MB): the bandwidth the weights
// stream at in the decode-shaped (1x1) case is a fraction of this.
void BM_StreamRead(benchmark::State& state) {
  std::vector<float> data(size_t(128) << 20, 1.0f);
  for (auto _ : state) {
    float total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (int64_t i = 0; i < int64_t(data.size()); ++i) total += data[size_t(i)];
    benchmark::DoNotOptimize(total);
  }
  state.counters["GB/s"] = benchmark::Counter(double(data.size() * sizeof(float)) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_StreamRead)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_BertBase(benchmark::State& state) {
  const int64_t batch = state.range(0), seq = state.range(1);
  const Variant variant = Variant(state.range(2));
  LoadOptions options;
  options.dtype = activation_dtype(variant);
  options.quantize = quantization(variant);
  std::unique_ptr<Model> model = load_model(bert_base_dir(), options);
  Array ids = random::randint({batch, seq}, 1000, 20000, Dtype::int64, 3);
  eval(ids);
  for (auto _ : state) {
    ModelOutputs out = model->forward({ids, std::nullopt, std::nullopt});
    eval(out.at("last_hidden_state"));
  }
  state.SetLabel(kVariantNames[variant]);
  const double weight_bytes = bert_base_linear_bytes(variant);
  state.counters["tokens/s"] = benchmark::Counter(double(batch * seq), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_MB"] = weight_bytes / 1e6;
  state.counters["weight_bytes_per_token"] = weight_bytes / double(batch * seq);
  state.counters["weight_GB/s"] = benchmark::Counter(weight_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BertBase)
    ->ArgsProduct({{1}, {1, 128}, {kFloat32, kBfloat16, kQ8, kQ4, kQ8Bf16, kQ4Bf16}})
    ->ArgsProduct({{32}, {128}, {kFloat32, kBfloat16, kQ8, kQ4, kQ4Bf16}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
  tessera::choose_openmp_waits(argv);  // as the tessera command runs
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
