// `tessera bench`: the latency/throughput suite over models x batch x sequence x device x dtype,
// tessera and its peers (PyTorch, ONNX Runtime, MLX) on the same checkpoints and inputs.
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "runtime/bench/bench_report.h"
#include "runtime/bench/host_info.h"
#include "runtime/bench/peer_runner.h"
#include "runtime/bench/resource_paths.h"
#include "runtime/bench/result_merge.h"
#include "runtime/bench/result_table.h"
#include "runtime/bench/tessera_runner.h"

namespace tessera::cli {

namespace {

namespace fs = std::filesystem;
using namespace tessera::bench;

std::string joined_command_line(int argc, char** argv) {
  std::string line = "tessera";
  for (int i = 0; i < argc; ++i) line += " " + std::string(argv[i]);
  return line;
}

std::string default_python() {
  const char* python = std::getenv("TESSERA_PYTHON");
  return python && *python ? python : "python3";
}

std::map<std::string, BenchModel> prepare_models(const std::vector<std::string>& specs, const fs::path& cache_dir,
                                                 uint64_t seed) {
  std::map<std::string, BenchModel> models;
  for (const std::string& spec : specs) {
    bool is_directory = fs::exists(fs::path(spec) / "config.json");
    std::fprintf(stderr, "tessera bench: preparing %s%s\n", spec.c_str(),
                 is_directory ? "" : " (random weights from configs/, written once into the cache)");
    models.emplace(spec, prepare_model(spec, is_directory ? fs::path() : find_resource("configs"), cache_dir, seed));
  }
  return models;
}

std::vector<BenchResult> run_peers(const std::vector<std::string>& peers, const PeerSetup& setup) {
  std::vector<BenchResult> results;
  for (const std::string& peer : peers) {
    std::fprintf(stderr, "tessera bench: running peer %s with %s\n", peer.c_str(), setup.python.c_str());
    for (BenchResult& r : run_peer(peer, setup)) results.push_back(std::move(r));
  }
  return results;
}

void draw_plot(const std::string& python, const fs::path& json_path, const std::string& png_path) {
  std::string command = shell_quote(python) + " " + shell_quote(find_resource("bench/plot.py").string()) + " " +
                        shell_quote(json_path.string()) + " " + shell_quote(png_path);
  TESSERA_CHECK(std::system(command.c_str()) == 0, "bench",
                "bench/plot.py failed (it needs matplotlib: pip install matplotlib, or --python PATH)");
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  CLI::App app("Latency/throughput suite: tessera and its peers on the same checkpoints and inputs", "bench");
  std::string grid_name = "quick", json_path, csv_path, plot_path, python = default_python(), cache_dir;
  std::vector<std::string> peers;
  std::vector<std::string> models = {"bert-base", "roberta-base", "xlm-roberta-base"};
  std::vector<std::string> devices = {"cpu"};
  if (cuda_available()) devices.push_back("cuda");
  BenchGrid grid;
  BenchSettings settings;
  bool dry_run = false;
  app.add_option("--models", models, "short names from configs/ (random weights) or checkpoint directories")
      ->delimiter(',')->capture_default_str();
  app.add_option("--grid", grid_name, "quick: batch 1,8 x seq 16,128; paper: batch 1,8,32,128 x seq 16,128,512")
      ->check(CLI::IsMember({"quick", "paper"}))->capture_default_str();
  app.add_option("--batch", grid.batches, "batch sizes (replace the grid's)")->delimiter(',');
  app.add_option("--seq", grid.seqs, "sequence lengths (replace the grid's)")->delimiter(',');
  app.add_option("--device", devices, "cpu, cuda")->delimiter(',')->capture_default_str();
  app.add_option("--dtype", grid.dtypes, "float32, float16, bfloat16 (default float32)")->delimiter(',');
  app.add_option("--runs", settings.runs, "timed runs per case")->capture_default_str();
  app.add_option("--warmup", settings.warmup, "untimed runs per case first")->capture_default_str();
  app.add_option("--threads", settings.threads, "CPU threads, the same for every engine (0: all cores)")
      ->capture_default_str();
  app.add_option("--padding", settings.padding, "fraction of each row that is padding (attention_mask 0)")
      ->capture_default_str();
  app.add_option("--peer-max-run-s", settings.peer_max_run_s,
                 "a peer case whose first run takes longer is reported as over budget instead of timed")
      ->capture_default_str();
  app.add_option("--quantize", settings.quantize_bits,
                 "tessera only: quantize Linear weights at load to 4 or 8 bits (group 64); peers stay float");
  app.add_flag("--int8-compute", settings.int8_compute, "tessera only: 8-bit layers compute in int8");
  app.add_option("--tasks", settings.lm_tasks, "causal LMs: prefill, decode (both by default)")
      ->delimiter(',')
      ->check(CLI::IsMember({"prefill", "decode"}));
  app.add_option("--seed", settings.seed, "seed of the random weights and random ids")->capture_default_str();
  app.add_option("--peers", peers, "torch, onnxruntime, mlx, mlx-transformers")->delimiter(',');
  app.add_option("--python", python, "Python with the peers' packages (default $TESSERA_PYTHON, else python3)");
  app.add_option("--cache-dir", cache_dir, "random checkpoints, inputs, ONNX exports (default ~/.cache/tessera/bench)");
  app.add_option("--json", json_path, "write every result as JSON");
  app.add_option("--csv", csv_path, "write every result as CSV");
  app.add_option("--plot", plot_path, "draw latency vs batch and sequence per engine (PNG, needs matplotlib)");
  app.add_flag("--dry-run", dry_run, "print the cases the grid expands to and stop");
  if (auto code = parse_args(app, argc, argv)) return *code;

  BenchGrid base = grid_name == "paper" ? paper_grid(models, devices) : quick_grid(models, devices);
  if (grid.batches.empty()) grid.batches = base.batches;
  if (grid.seqs.empty()) grid.seqs = base.seqs;
  if (grid.dtypes.empty()) grid.dtypes = base.dtypes;
  grid.models = models;
  grid.devices = devices;
  if (settings.threads == 0) settings.threads = int(std::thread::hardware_concurrency());
  validate(grid, settings);
  check_peer_names(peers);
  std::vector<BenchCase> cases = expand(grid);
  if (dry_run) {
    for (const BenchCase& c : cases)
      std::printf("%s %s %s %lldx%lld\n", c.model.c_str(), c.device.c_str(), c.dtype.c_str(), (long long)c.batch,
                  (long long)c.seq);
    return 0;
  }

  omp_set_num_threads(settings.threads);
  fs::path cache = cache_dir.empty() ? default_cache_dir() : fs::path(cache_dir);
  fs::create_directories(cache);
  nlohmann::json host = describe_host(joined_command_line(argc, argv));
  std::vector<PreparedCase> prepared = prepare_cases(cases, prepare_models(models, cache, settings.seed), settings, cache);

  std::vector<BenchResult> own;
  {
    ProgressBar progress(prepared.size());
    own = run_tessera(prepared, settings, progress);
  }
  std::vector<BenchResult> peer_results;
  if (!peers.empty()) {
    fs::path plan = cache / "plan.json";
    write_text_file(plan.string(), peer_plan(prepared, settings, cache).dump(2));
    peer_results = run_peers(peers, {python, find_resource("bench/peers"), plan});
  }
  std::vector<BenchResult> merged = merge_results(own, peer_results);
  host["load_average_1min_after"] = load_average_1min();

  std::printf("\n%s, %d threads, %d timed runs after %d warm-up, padding %.2f, inputs: %s; load average %.2f -> %.2f\n\n",
              host["cpu"].get<std::string>().c_str(), settings.threads, settings.runs, settings.warmup,
              settings.padding, prepared.front().input_source.c_str(), host["load_average_1min"].get<double>(),
              host["load_average_1min_after"].get<double>());
  std::printf("%s", format_table(merged).c_str());
  std::fflush(stdout);

  std::string document = report_document(host, settings, merged).dump(2) + "\n";
  if (!json_path.empty()) write_text_file(json_path, document);
  if (!csv_path.empty()) write_text_file(csv_path, to_csv(merged));
  if (!plot_path.empty()) {
    fs::path data = json_path.empty() ? cache / "last-results.json" : fs::path(json_path);
    if (json_path.empty()) write_text_file(data.string(), document);
    draw_plot(python, data, plot_path);
  }
  return 0;
}

}  // namespace tessera::cli
