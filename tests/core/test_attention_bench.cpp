// Microbenchmark of the attention op alone on the CPU (issue 7): 12 heads x 64, S = 128 and 512,
// bert-style additive key mask, 1 and 2 threads, float32 and bfloat16. Disabled by default; run
//   test_core --gtest_also_run_disabled_tests --gtest_filter='*AttentionBench*'
// (TESSERA_ATTN_BENCH_RUNS sets the calls per configuration, default 40; TESSERA_ATTN_BENCH_THREADS
// one thread count instead of 1 and 2; TESSERA_ATTN_BENCH_BF16=1 bfloat16 only).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tessera/ops.h"

namespace tessera {
namespace {

TEST(AttentionBench, DISABLED_Bert12x64) {
  const char* env = std::getenv("TESSERA_ATTN_BENCH_RUNS");
  int runs = env ? std::atoi(env) : 40;
  const char* threads_env = std::getenv("TESSERA_ATTN_BENCH_THREADS");
  std::vector<int> thread_counts =
      threads_env ? std::vector<int>{std::atoi(threads_env)} : std::vector<int>{1, 2};
  const char* bf16_env = std::getenv("TESSERA_ATTN_BENCH_BF16");
  std::vector<Dtype> dtypes = bf16_env && bf16_env[0] == '1'
                                  ? std::vector<Dtype>{Dtype::bfloat16}
                                  : std::vector<Dtype>{Dtype::float32, Dtype::bfloat16};
  for (Dtype dtype : dtypes) {
    for (int64_t s : {128, 512}) {
      Array q = random::normal({1, 12, s, 64}, dtype, 1),
            k = random::normal({1, 12, s, 64}, dtype, 2),
            v = random::normal({1, 12, s, 64}, dtype, 3),
            m = random::normal({1, 1, 1, s}, dtype, 4);
      eval({q, k, v, m});
      for (int threads : thread_counts) {
        omp_set_num_threads(threads);
        std::vector<double> ms;
        for (int r = 0; r < runs + 3; ++r) {
          Array o = scaled_dot_product_attention(q, k, v, 0.125f, m);
          auto t0 = std::chrono::steady_clock::now();
          eval(o);
          auto t1 = std::chrono::steady_clock::now();
          if (r >= 3) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        std::printf("attention %-8s S=%-4lld threads=%d: median %.3f ms, min %.3f ms (%d runs)\n",
                    std::string(name(dtype)).c_str(), (long long)s, threads, ms[ms.size() / 2],
                    ms[0], runs);
      }
    }
  }
}

}  // namespace
}  // namespace tessera
