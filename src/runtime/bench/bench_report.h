#pragma once
// The files a run leaves: a JSON document (host, settings, every result) that bench/plot.py and
// later comparisons read, and the same results as CSV.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "runtime/bench/bench_result.h"

namespace tessera::bench {

nlohmann::json report_document(const nlohmann::json& host, const BenchSettings& settings,
                               const std::vector<BenchResult>& results);
// Writes `text` to `path` through a temporary file, so a failed run leaves no partial file.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace tessera::bench
