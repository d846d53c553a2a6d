// Side-by-side CPU GEMM measurement over the shapes a BERT-base encoder runs (docs/benchmarks.md,
// "CPU GEMM library choice"). Each library's executable links this harness; bench/gemm_compare.sh
// runs them all and pivots the rows into one table.
//
// Output: '#' lines describe the run; every other line is one tab-separated measurement.
// A hand-rolled harness rather than Google Benchmark because the output must carry a float64
// accuracy check and library/kernel/thread columns that the pivot script reads.
#include "gemm_compare.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>
#include <thread>

namespace gemm_compare {
namespace {

struct Shape {
  const char* role;
  int64_t m, n, k;
  bool trans_b;
  int batch;  // independent GEMMs per measurement (attention heads)
};

constexpr int kBertHeads = 12;

std::vector<Shape> bert_base_shapes() {
  struct Projection {
    const char* role;
    int64_t k, n;
  };
  // Weights stored [n, k] row-major (PyTorch Linear), hence trans_b.
  const Projection projections[] = {
      {"attn_out 768x768", 768, 768},
      {"qkv 768x2304", 768, 2304},
      {"ffn_up 768x3072", 768, 3072},
      {"ffn_down 3072x768", 3072, 768},
  };
  std::vector<Shape> shapes;
  for (int64_t tokens : {1, 16, 128, 512, 1024, 4096})
    for (const Projection& p : projections) shapes.push_back({p.role, tokens, p.n, p.k, true, 1});
  for (int64_t seq : {128, 512}) {
    shapes.push_back({"scores Q@K^T x12", seq, seq, 64, true, kBertHeads});
    shapes.push_back({"context P@V x12", seq, 64, seq, false, kBertHeads});
  }
  return shapes;
}

// Owns one GEMM's inputs in every input type, filled from the same fresh random values.
// The uniform ranges keep no value at zero on purpose: an all-zero or constant input would hide
// a kernel that skips or misreads part of the operands.
struct Problem {
  int64_t m, n, k;
  bool trans_b;
  std::vector<float> a_f32, b_f32, c_f32;
  std::vector<tessera::bfloat16> a_bf16, b_bf16;
  std::vector<uint8_t> a_u8;
  std::vector<int8_t> b_s8;
  std::vector<int32_t> c_s32;

  Problem(const Shape& s, std::mt19937_64& rng)
      : m(s.m),
        n(s.n),
        k(s.k),
        trans_b(s.trans_b),
        a_f32(m * k),
        b_f32(k * n),
        c_f32(m * n),
        a_bf16(m * k),
        b_bf16(k * n),
        a_u8(m * k),
        b_s8(k * n),
        c_s32(m * n) {
    std::uniform_real_distribution<float> value(0.05f, 1.0f);
    std::bernoulli_distribution negative(0.5);
    auto signed_value = [&] { return negative(rng) ? -value(rng) : value(rng); };
    std::uniform_int_distribution<int> u8(1, 255), s8(-127, 127);
    for (int64_t i = 0; i < m * k; ++i) {
      a_f32[i] = signed_value();
      a_bf16[i] = tessera::to_bfloat16(a_f32[i]);
      a_u8[i] = uint8_t(u8(rng));
    }
    for (int64_t i = 0; i < k * n; ++i) {
      b_f32[i] = signed_value();
      b_bf16[i] = tessera::to_bfloat16(b_f32[i]);
      b_s8[i] = int8_t(s8(rng));
    }
    // Garbage in C: beta = 0 must overwrite it, never read it.
    std::fill(c_f32.begin(), c_f32.end(), 12345.0f);
    std::fill(c_s32.begin(), c_s32.end(), 12345);
  }

  Operands operands() {
    return {m,
            n,
            k,
            trans_b,
            a_f32.data(),
            b_f32.data(),
            a_bf16.data(),
            b_bf16.data(),
            a_u8.data(),
            b_s8.data(),
            c_f32.data(),
            c_s32.data()};
  }

  double a_at(InputType t, int64_t i, int64_t p) const {
    const int64_t at = i * k + p;
    switch (t) {
      case InputType::f32:
        return a_f32[at];
      case InputType::bf16:
        return tessera::to_float(a_bf16[at]);
      case InputType::int8:
        return a_u8[at];
    }
    return 0;
  }
  double b_at(InputType t, int64_t p, int64_t j) const {
    const int64_t at = trans_b ? j * k + p : p * n + j;
    switch (t) {
      case InputType::f32:
        return b_f32[at];
      case InputType::bf16:
        return tessera::to_float(b_bf16[at]);
      case InputType::int8:
        return b_s8[at];
    }
    return 0;
  }
  double c_at(InputType t, int64_t i, int64_t j) const {
    return t == InputType::int8 ? double(c_s32[i * n + j]) : double(c_f32[i * n + j]);
  }

  // ||C - C_ref|| / ||C_ref|| over up to 32 evenly spaced rows, C_ref in float64 from the very
  // inputs the kernel read (so bf16/int8 rounding of the inputs is not counted as error).
  double relative_error(InputType t) const {
    const int64_t rows = std::min<int64_t>(m, 32);
    double diff2 = 0, ref2 = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * m / rows;
      for (int64_t j = 0; j < n; ++j) {
        double ref = 0;
        for (int64_t p = 0; p < k; ++p) ref += a_at(t, i, p) * b_at(t, p, j);
        const double d = c_at(t, i, j) - ref;
        diff2 += d * d;
        ref2 += ref * ref;
      }
    }
    return std::sqrt(diff2 / ref2);
  }
};

const char* type_name(InputType t) {
  switch (t) {
    case InputType::f32:
      return "f32";
    case InputType::bf16:
      return "bf16";
    case InputType::int8:
      return "u8s8s32";
  }
  return "?";
}

using Clock = std::chrono::steady_clock;

// CPU time (clock ticks) spent by the whole machine and by this process, from /proc. The machine
// is shared (2 cores, other people compile on it), so a measurement during which other processes
// took a noticeable share of the CPUs is thrown away and repeated.
struct CpuTicks {
  long long machine_busy = 0, machine_total = 0, self = 0;
};

CpuTicks read_cpu_ticks() {
  CpuTicks t;
  if (FILE* stat = std::fopen("/proc/stat", "r")) {
    long long user, nice, system, idle, iowait, irq, softirq, steal;
    if (std::fscanf(stat, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &user, &nice, &system,
                    &idle, &iowait, &irq, &softirq, &steal) == 8) {
      t.machine_busy = user + nice + system + irq + softirq + steal;
      t.machine_total = t.machine_busy + idle + iowait;
    }
    std::fclose(stat);
  }
  if (FILE* stat = std::fopen("/proc/self/stat", "r")) {
    long long utime = 0, stime = 0;
    // Fields 14 and 15; the command name (field 2) has no spaces for these executables.
    if (std::fscanf(stat, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &utime,
                    &stime) == 2)
      t.self = utime + stime;
    std::fclose(stat);
  }
  return t;
}

// Share of all CPUs' time used by other processes between two readings.
double foreign_share(const CpuTicks& before, const CpuTicks& after) {
  const long long total = after.machine_total - before.machine_total;
  const long long foreign = (after.machine_busy - before.machine_busy) - (after.self - before.self);
  return total > 0 ? std::max(0.0, double(foreign) / double(total)) : 0.0;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Options {
  std::vector<int> threads = {1, 2};
  std::string kernel_filter;  // substring of the kernel name; empty = all
  int64_t max_m = 1 << 30;
  // Follow every GEMM with an OpenMP parallel loop over C (a Linear's bias add): this is how
  // tessera calls the library, and it shows what a pthread-based library loses when it competes
  // with OpenMP's spinning workers.
  bool omp_epilogue = false;
  double min_seconds = 0.3;
  int min_repeats = 7;
  double max_foreign_share = 0.1;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gemm_compare: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return std::string(argv[++i]);
    };
    if (arg == "--threads") {
      o.threads.clear();
      const std::string list = next();
      for (size_t at = 0; at < list.size();) {
        o.threads.push_back(std::atoi(list.c_str() + at));
        const size_t comma = list.find(',', at);
        at = comma == std::string::npos ? list.size() : comma + 1;
      }
    } else if (arg == "--kernel") {
      o.kernel_filter = next();
    } else if (arg == "--max-m") {
      o.max_m = std::atoll(next().c_str());
    } else if (arg == "--omp-epilogue") {
      o.omp_epilogue = true;
    } else if (arg == "--min-seconds") {
      o.min_seconds = std::atof(next().c_str());
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads 1,2] [--kernel SUBSTRING] [--max-m M] [--omp-epilogue] "
                   "[--min-seconds S]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return o;
}

void add_bias(float* c, int64_t m, int64_t n) {
#pragma omp parallel for
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * n + j] += 0.5f;
}

}  // namespace
}  // namespace gemm_compare

int main(int argc, char** argv) {
  using namespace gemm_compare;
  const Options options = parse_options(argc, argv);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::random_device entropy;
  const uint64_t seed = (uint64_t(entropy()) << 32) | entropy();
  std::mt19937_64 rng(seed);

  std::printf("# library: %s\n%s", library_name().c_str(), library_report().c_str());
  std::printf("# OPENBLAS_CORETYPE=%s  omp_epilogue=%d  seed=%llu\n",
              coretype ? coretype : "(unset)", int(options.omp_epilogue), (unsigned long long)seed);
  std::printf(
      "library\tkernel\tinput\tthreads\trole\tbatch\tm\tn\tk\tgflops\tmedian_us\trel_err\t"
      "foreign_cpu\n");

  std::vector<Kernel> kernels = library_kernels();
  std::erase_if(kernels, [&](const Kernel& kernel) {
    return kernel.name.find(options.kernel_filter) == std::string::npos;
  });
  for (int threads : options.threads) {
    omp_set_num_threads(threads);
    set_library_threads(threads);
    for (const Shape& shape : bert_base_shapes()) {
      if (shape.m > options.max_m) continue;
      std::vector<Problem> problems;
      for (int b = 0; b < shape.batch; ++b) problems.emplace_back(shape, rng);
      for (const Kernel& kernel : kernels) {
        std::vector<std::function<void()>> calls;
        for (Problem& problem : problems) calls.push_back(kernel.prepare(problem.operands()));
        auto run_once = [&] {
          for (size_t b = 0; b < calls.size(); ++b) {
            calls[b]();
            if (options.omp_epilogue && kernel.input != InputType::int8)
              add_bias(problems[b].c_f32.data(), shape.m, shape.n);
          }
        };
        run_once();
        // The first call's result is the one checked (before any epilogue could touch it twice).
        const double error = options.omp_epilogue ? NAN : problems[0].relative_error(kernel.input);
        const Clock::time_point warm_start = Clock::now();
        while (seconds_since(warm_start) < 0.05) run_once();

        std::vector<double> samples;
        double foreign = 1.0;
        // Compiles come in bursts with gaps: retry often, and give up (the foreign_cpu column
        // then says how disturbed the kept measurement was) after about a minute.
        for (int attempt = 0; attempt < 120 && foreign > options.max_foreign_share; ++attempt) {
          if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
          samples.clear();
          const CpuTicks ticks_before = read_cpu_ticks();
          const Clock::time_point timed_start = Clock::now();
          while (int(samples.size()) < options.min_repeats ||
                 (seconds_since(timed_start) < options.min_seconds && samples.size() < 1000)) {
            const Clock::time_point start = Clock::now();
            run_once();
            samples.push_back(seconds_since(start));
          }
          foreign = foreign_share(ticks_before, read_cpu_ticks());
        }
        std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
        const double median = samples[samples.size() / 2];
        const double flops =
            2.0 * double(shape.m) * double(shape.n) * double(shape.k) * shape.batch;
        std::printf("%s\t%s\t%s\t%d\t%s\t%d\t%lld\t%lld\t%lld\t%.1f\t%.1f\t%.2e\t%.2f\n",
                    library_name().c_str(), kernel.name.c_str(), type_name(kernel.input), threads,
                    shape.role, shape.batch, (long long)shape.m, (long long)shape.n,
                    (long long)shape.k, flops / median * 1e-9, median * 1e6, error, foreign);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
