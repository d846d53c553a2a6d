#pragma once
// Merging the peers' results into tessera's: rows grouped by case (tessera first, then the peers
// in the order given) and each peer row's ratio peer_median / tessera_median (> 1: tessera is
// faster).
#include <vector>

#include "runtime/bench/bench_result.h"

namespace tessera::bench {

std::vector<BenchResult> merge_results(const std::vector<BenchResult>& tessera,
                                       const std::vector<BenchResult>& peers);

}  // namespace tessera::bench
