#pragma once
// One measured case of one engine, and the JSON/CSV schema every engine reports in: tessera
// writes it, the Python peers (bench/peers/) print it as JSON lines, the suite merges them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/bench/bench_grid.h"
#include "runtime/bench/latency_stats.h"

namespace tessera::bench {

struct BenchResult {
  std::string engine;   // "tessera", "torch-eager", "torch-sdpa", "onnxruntime", "mlx", ...
  std::string version;  // the engine's version string, as it reports it
  BenchCase config;
  double padding = 0;
  int threads = 0;
  int runs = 0;
  std::optional<LatencyStats> latency;  // absent when the case did not run
  double load_ms = 0;                   // the model's load time (once per model/device/dtype)
  double peak_rss_mb = 0;               // host peak resident memory while the case ran
  std::optional<double> device_peak_mb;
  std::string error;                       // why the case did not run; empty when it did
  std::optional<double> ratio_vs_tessera;  // peer median / tessera median, set when merged

  bool ok() const { return latency.has_value(); }
  // Positions processed per second at the median latency: batch x sequence (padding included),
  // or batch for a decode step.
  double tokens_per_s() const;
};

void to_json(nlohmann::json& j, const BenchResult& r);
void from_json(const nlohmann::json& j, BenchResult& r);

// Parses one JSON line of a peer's output; a tessera::Error names the line when malformed.
BenchResult parse_result_line(const std::string& line);

// The CSV columns, in order, and one row per result.
const std::vector<std::string>& csv_columns();
std::string to_csv(const std::vector<BenchResult>& results);

}  // namespace tessera::bench
