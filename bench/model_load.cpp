// Model load time from a warm page cache: `model_load MODEL_DIR [runs]` loads the model `runs`
// times (after one warm-up load) and prints the median and minimum in milliseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tessera/model.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: model_load MODEL_DIR [runs]\n");
    return 2;
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 10;
  try {
    tessera::load_model(argv[1]);  // warm the page cache
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto model = tessera::load_model(argv[1]);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%s: load median %.2f ms, min %.2f ms over %d runs\n", argv[1], ms[ms.size() / 2], ms[0], runs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
