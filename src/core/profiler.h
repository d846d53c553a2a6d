#pragma once
// Opt-in per-primitive timing: TESSERA_PROFILE=1 makes eval() time every primitive (host wall
// clock; device work is synchronised first by the backend's own copies only, so on CUDA the
// numbers are launch times) and print a table to stderr at exit, costliest first.
#include <chrono>

namespace tessera::profiler {

bool enabled();
void record(const char* primitive, std::chrono::steady_clock::duration elapsed);

}  // namespace tessera::profiler
