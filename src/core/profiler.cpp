#include "core/profiler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tessera::profiler {

namespace {

struct Totals {
  double seconds = 0;
  long calls = 0;
};

class Table {
 public:
  ~Table() {
    if (totals_.empty()) return;
    std::vector<std::pair<std::string, Totals>> rows(totals_.begin(), totals_.end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.seconds > b.second.seconds; });
    double all = 0;
    for (auto& r : rows) all += r.second.seconds;
    std::fprintf(stderr, "%-28s %10s %8s %7s\n", "primitive", "ms", "calls", "share");
    for (auto& [name, t] : rows)
      std::fprintf(stderr, "%-28s %10.2f %8ld %6.1f%%\n", name.c_str(), t.seconds * 1e3, t.calls,
                   100 * t.seconds / all);
  }
  void add(const char* name, double seconds) {
    std::lock_guard lock(mutex_);
    Totals& t = totals_[name];
    t.seconds += seconds;
    ++t.calls;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Totals> totals_;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("TESSERA_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void record(const char* primitive, std::chrono::steady_clock::duration elapsed) {
  table().add(primitive, std::chrono::duration<double>(elapsed).count());
}

}  // namespace tessera::profiler
