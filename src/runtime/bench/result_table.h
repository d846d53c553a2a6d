#pragma once
// The results as a Markdown table: readable on a terminal and pasted as is into docs.
#include <string>
#include <vector>

#include "runtime/bench/bench_result.h"

namespace tessera::bench {

std::string format_table(const std::vector<BenchResult>& results);

}  // namespace tessera::bench
