#pragma once
// Measures the prepared cases on tessera itself: each model loaded once per device/dtype (load
// time measured), then per case warm-up runs, timed runs of forward + eval, and the peak memory.
#include <vector>

#include "runtime/bench/bench_result.h"
#include "runtime/bench/case_plan.h"
#include "runtime/bench/progress_bar.h"

namespace tessera::bench {

std::vector<BenchResult> run_tessera(const std::vector<PreparedCase>& cases, const BenchSettings& settings,
                                     ProgressBar& progress);

}  // namespace tessera::bench
