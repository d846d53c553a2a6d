#include "runtime/bench/bench_result.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/error.h"

namespace tessera::bench {

double BenchResult::tokens_per_s() const {
  if (!latency || latency->median_ms <= 0) return 0;
  int64_t tokens = config.task == "decode" ? config.batch : config.batch * config.seq;
  return double(tokens) / (latency->median_ms / 1000.0);
}

namespace {

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

template <typename T>
std::optional<T> optional_field(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<T>();
}

}  // namespace

void to_json(nlohmann::json& j, const BenchResult& r) {
  auto latency = [&](double LatencyStats::*field) {
    return r.latency ? nlohmann::json(r.latency.value().*field) : nlohmann::json(nullptr);
  };
  j = {{"engine", r.engine},
       {"version", r.version},
       {"model", r.config.model},
       {"device", r.config.device},
       {"dtype", r.config.dtype},
       {"batch", r.config.batch},
       {"seq", r.config.seq},
       {"task", r.config.task},
       {"padding", r.padding},
       {"threads", r.threads},
       {"runs", r.runs},
       {"median_ms", latency(&LatencyStats::median_ms)},
       {"p90_ms", latency(&LatencyStats::p90_ms)},
       {"mean_ms", latency(&LatencyStats::mean_ms)},
       {"min_ms", latency(&LatencyStats::min_ms)},
       {"tokens_per_s", r.ok() ? nlohmann::json(r.tokens_per_s()) : nlohmann::json(nullptr)},
       {"load_ms", r.load_ms},
       {"peak_rss_mb", r.peak_rss_mb},
       {"device_peak_mb", optional_json(r.device_peak_mb)},
       {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)},
       {"vs_tessera", optional_json(r.ratio_vs_tessera)}};
}

void from_json(const nlohmann::json& j, BenchResult& r) {
  r.engine = j.at("engine").get<std::string>();
  r.version = j.value("version", "");
  r.config = {j.at("model").get<std::string>(), j.at("device").get<std::string>(), j.at("dtype").get<std::string>(),
              j.at("batch").get<int64_t>(), j.at("seq").get<int64_t>(), j.value("task", "forward")};
  r.padding = j.value("padding", 0.0);
  r.threads = j.value("threads", 0);
  r.runs = j.value("runs", 0);
  r.error = optional_field<std::string>(j, "error").value_or("");
  if (auto median = optional_field<double>(j, "median_ms"); median && r.error.empty())
    r.latency = LatencyStats{*median, j.at("p90_ms").get<double>(), j.at("mean_ms").get<double>(),
                             j.at("min_ms").get<double>()};
  r.load_ms = j.value("load_ms", 0.0);
  r.peak_rss_mb = j.value("peak_rss_mb", 0.0);
  r.device_peak_mb = optional_field<double>(j, "device_peak_mb");
  r.ratio_vs_tessera = optional_field<double>(j, "vs_tessera");
}

BenchResult parse_result_line(const std::string& line) {
  try {
    return nlohmann::json::parse(line).get<BenchResult>();
  } catch (const nlohmann::json::exception& e) {
    fail("bench", "malformed result line '" + line.substr(0, 120) + "' (" + e.what() + ")");
  }
}

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns = {
      "engine", "version", "model", "device", "dtype", "batch", "seq", "task", "padding", "threads", "runs",
      "median_ms", "p90_ms", "mean_ms", "min_ms", "tokens_per_s", "load_ms", "peak_rss_mb",
      "device_peak_mb", "vs_tessera", "error"};
  return columns;
}

namespace {

// RFC 4180: a field with a comma, quote or newline is quoted, quotes doubled.
std::string csv_field(const nlohmann::json& value) {
  if (value.is_null()) return "";
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::string to_csv(const std::vector<BenchResult>& results) {
  std::ostringstream out;
  for (size_t i = 0; i < csv_columns().size(); ++i) out << (i ? "," : "") << csv_columns()[i];
  out << "\n";
  for (const BenchResult& r : results) {
    nlohmann::json j = r;
    for (size_t i = 0; i < csv_columns().size(); ++i) out << (i ? "," : "") << csv_field(j[csv_columns()[i]]);
    out << "\n";
  }
  return out.str();
}

}  // namespace tessera::bench
