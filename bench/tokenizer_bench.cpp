// Tokenizer speed: load time of a tokenizer.json and encode throughput over a file of JSON lines
// ({"text": ...}), one text at a time on one thread and as one parallel batch. Prints one JSON
// object; bench/tokenizer_bench.py runs it next to the Python `tokenizers` library.
//
//   tokenizer_bench TOKENIZER_JSON TEXTS_JSONL [--repeats N]
//   tokenizer_bench TOKENIZER_JSON --load-only [--repeats N]   (load time: best, median, median
//   CPU)
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "tessera/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double process_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Extracts the "text" string of a JSON line without a JSON library (the bench must not measure
// one); handles the escapes the Python json module writes.
std::string text_field(const std::string& line) {
  const auto key = line.find("\"text\": \"");
  if (key == std::string::npos) tessera::fail("tokenizer_bench", "line without \"text\"");
  std::string out;
  for (std::size_t i = key + 9; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\') {
      out.push_back(line[i]);
      continue;
    }
    const char escaped = line[++i];
    switch (escaped) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'u': {
        char32_t c = std::stoul(line.substr(i + 1, 4), nullptr, 16);
        i += 4;
        if (c >= 0xD800 && c <= 0xDBFF && line.compare(i + 1, 2, "\\u") == 0) {
          const char32_t low = std::stoul(line.substr(i + 3, 4), nullptr, 16);
          c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        if (c < 0x80) {
          out.push_back(static_cast<char>(c));
        } else if (c < 0x800) {
          out.push_back(static_cast<char>(0xC0 | (c >> 6)));
          out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else if (c < 0x10000) {
          out.push_back(static_cast<char>(0xE0 | (c >> 12)));
          out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xF0 | (c >> 18)));
          out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
        break;
      }
      default:
        out.push_back(escaped);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: tokenizer_bench TOKENIZER_JSON TEXTS_JSONL [--repeats N]\n";
    return 2;
  }
  int repeats = 5;
  if (argc >= 5 && std::string(argv[3]) == "--repeats") repeats = std::max(1, std::atoi(argv[4]));
  try {
    if (std::string(argv[2]) == "--load-only") {
      // CPU time next to wall time: on a shared machine the wall time of a load includes the
      // time other processes held the core, the CPU time (all threads, kernel included) not.
      std::vector<double> load_ms;
      std::vector<double> cpu_ms;
      for (int i = 0; i < repeats; ++i) {
        const double cpu_start = process_cpu_ms();
        const auto start = Clock::now();
        const auto loaded = tessera::Tokenizer::from_file(argv[1]);
        load_ms.push_back(seconds_since(start) * 1e3);
        cpu_ms.push_back(process_cpu_ms() - cpu_start);
      }
      std::printf(
          "{\"best_load_ms\": %.2f, \"median_load_ms\": %.2f, \"median_load_cpu_ms\": %.2f}\n",
          *std::min_element(load_ms.begin(), load_ms.end()), median(load_ms), median(cpu_ms));
      return 0;
    }
    std::vector<std::pair<std::string, std::optional<std::string>>> inputs;
    std::size_t bytes = 0;
    std::ifstream stream(argv[2]);
    for (std::string line; std::getline(stream, line);) {
      if (line.empty()) continue;
      inputs.emplace_back(text_field(line), std::nullopt);
      bytes += inputs.back().first.size();
    }

    std::vector<double> load_ms;
    for (int i = 0; i < repeats; ++i) {
      const auto start = Clock::now();
      const auto loaded = tessera::Tokenizer::from_file(argv[1]);
      load_ms.push_back(seconds_since(start) * 1e3);
    }
    auto tokenizer = tessera::Tokenizer::from_file(argv[1]);
    tokenizer.set_padding(std::nullopt);  // measure tokenization, not padding
    tokenizer.set_truncation(std::nullopt);

    std::size_t tokens = 0;
    std::vector<double> single_s, batch_s;
    for (int r = 0; r < repeats; ++r) {
      tokens = 0;
      const auto start = Clock::now();
      for (const auto& [text, pair] : inputs) tokens += tokenizer.encode(text).size();
      single_s.push_back(seconds_since(start));
    }
    for (int r = 0; r < repeats; ++r) {
      const auto start = Clock::now();
      const auto encodings = tokenizer.encode_batch(inputs);
      batch_s.push_back(seconds_since(start));
    }
    std::printf(
        "{\"texts\": %zu, \"bytes\": %zu, \"tokens\": %zu, \"threads\": %d, \"load_ms\": %.2f, "
        "\"single_s\": %.4f, \"batch_s\": %.4f}\n",
        inputs.size(), bytes, tokens, omp_get_max_threads(), median(load_ms), median(single_s),
        median(batch_s));
  } catch (const tessera::Error& error) {
    std::cerr << error.what() << "\n";
    return 1;
  }
  return 0;
}
