// `tessera selfcheck`: runs the op conformance table on every device here and prints a table.
#include <chrono>
#include <cstdio>
#include <random>

#include "backend/cpu/gemm.h"
#include "cli/commands.h"
#include "testing/op_check.h"

namespace tessera::cli {

int cmd_selfcheck(int argc, char** argv) {
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  const Dtype dtypes[] = {Dtype::float32, Dtype::float16, Dtype::bfloat16};
  uint64_t seed = std::random_device{}();
  std::printf("tessera selfcheck: %zu ops x %zu devices x 3 dtypes, seed %llu, CPU GEMM: %s\n",
              testing::op_cases().size(), devices.size(), (unsigned long long)seed,
              cpu::gemm_backend_name());
  std::printf("%-28s", "op");
  for (Device d : devices)
    for (Dtype t : dtypes) std::printf(" %14s", (to_string(d) + "/" + std::string(name(t))).c_str());
  std::printf("\n");
  int failures = 0;
  auto start = std::chrono::steady_clock::now();
  for (const testing::OpCase& c : testing::op_cases()) {
    std::printf("%-28s", c.name.c_str());
    for (Device d : devices)
      for (Dtype t : dtypes) {
        testing::CheckResult r = testing::run_op_case(c, d, t, seed);
        if (r.passed) {
          std::printf(" %14.1e", r.error);
        } else {
          std::printf(" %14s", "FAIL");
          ++failures;
        }
        if (!r.passed) std::fprintf(stderr, "  %s on %s/%s: %s\n", c.name.c_str(), to_string(d).c_str(),
                                    std::string(name(t)).c_str(), r.message.c_str());
      }
    std::printf("\n");
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %d failures (relative error vs float64 shown; %.2f s)\n",
              failures ? "FAILED" : "all ops match", failures, seconds);
  return failures ? 1 : 0;
}

}  // namespace tessera::cli
