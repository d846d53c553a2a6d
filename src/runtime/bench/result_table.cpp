#include "runtime/bench/result_table.h"

#include <algorithm>
#include <cstdio>

namespace tessera::bench {

namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::vector<std::string> row_cells(const BenchResult& r) {
  std::string shape = std::to_string(r.config.batch) + "×" + std::to_string(r.config.seq);
  if (r.config.task != "forward") shape += " " + r.config.task;
  std::vector<std::string> cells = {r.config.model, r.config.device, r.config.dtype, shape, r.engine};
  if (!r.ok()) {
    cells.insert(cells.end(), {"—", "—", "—", "—", "—", "not run: " + r.error});
    return cells;
  }
  cells.push_back(fixed(r.latency->median_ms, 2));
  cells.push_back(fixed(r.latency->p90_ms, 2));
  cells.push_back(fixed(r.tokens_per_s(), 0));
  cells.push_back(fixed(r.load_ms, 1));
  cells.push_back(fixed(r.peak_rss_mb, 0));
  cells.push_back(r.ratio_vs_tessera ? fixed(*r.ratio_vs_tessera, 2) + "×" : "");
  return cells;
}

// Display width in code points: "×" and "—" are one column each.
size_t display_width(const std::string& s) {
  return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::string format_table(const std::vector<BenchResult>& results) {
  const std::vector<std::string> header = {"model", "device", "dtype", "batch×seq", "engine", "median ms",
                                           "p90 ms", "tokens/s", "load ms", "peak RSS MB", "peer/tessera"};
  std::vector<std::vector<std::string>> rows = {header};
  for (const BenchResult& r : results) rows.push_back(row_cells(r));
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
  auto line = [&](const std::vector<std::string>& row) {
    std::string text = "|";
    for (size_t c = 0; c < row.size(); ++c) {
      bool numeric = c >= 5;  // right-align the measurements
      std::string pad(widths[c] - display_width(row[c]), ' ');
      text.append(" ").append(numeric ? pad : "").append(row[c]).append(numeric ? "" : pad).append(" |");
    }
    return text + "\n";
  };
  std::string table = line(rows[0]) + "|";
  for (size_t c = 0; c < header.size(); ++c) table += std::string(widths[c] + 1, '-') + (c >= 5 ? ":|" : "-|");
  table += "\n";
  for (size_t i = 1; i < rows.size(); ++i) table += line(rows[i]);
  return table;
}

}  // namespace tessera::bench
