#include "runtime/bench/bench_report.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tessera/error.h"

namespace tessera::bench {

nlohmann::json report_document(const nlohmann::json& host, const BenchSettings& settings,
                               const std::vector<BenchResult>& results) {
  return {{"schema", "tessera-bench/1"},
          {"host", host},
          {"settings",
           {{"runs", settings.runs},
            {"warmup", settings.warmup},
            {"threads", settings.threads},
            {"padding", settings.padding},
            {"peer_max_run_s", settings.peer_max_run_s},
            {"seed", settings.seed}}},
          {"results", results}};
}

void write_text_file(const std::string& path, const std::string& text) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    out << text;
    if (!out.flush()) {
      std::filesystem::remove(temporary);
      fail("bench", "cannot write " + path);
    }
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace tessera::bench
