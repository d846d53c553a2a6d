#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_set>

#include "tessera/error.h"

namespace tessera {

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  TESSERA_CHECK(options.temperature >= 0, "sampling", "temperature must be >= 0");
  TESSERA_CHECK(options.top_k >= 0, "sampling", "top-k must be >= 0");
  TESSERA_CHECK(options.top_p > 0 && options.top_p <= 1, "sampling", "top-p must be in (0, 1]");
  TESSERA_CHECK(options.min_p >= 0 && options.min_p <= 1, "sampling", "min-p must be in [0, 1]");
  TESSERA_CHECK(options.repetition_penalty > 0, "sampling", "repetition penalty must be > 0");
}

int64_t Sampler::next(std::vector<float> logits, const std::vector<int64_t>& context) {
  const SamplingOptions& o = options_;
  if (o.repetition_penalty != 1.0f) {
    // transformers' RepetitionPenaltyLogitsProcessor: once per distinct token.
    std::unordered_set<int64_t> seen(context.begin(), context.end());
    for (int64_t t : seen) {
      if (t < 0 || t >= int64_t(logits.size())) continue;
      float& l = logits[size_t(t)];
      l = l < 0 ? l * o.repetition_penalty : l / o.repetition_penalty;
    }
  }
  if (o.temperature == 0.0f) return int64_t(std::max_element(logits.begin(), logits.end()) - logits.begin());

  // Candidates sorted by logit, descending (stable: lower ids first on ties).
  std::vector<int64_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  size_t keep = order.size();
  if (o.top_k > 0) keep = std::min(keep, size_t(o.top_k));
  // Softmax of the tempered logits over the candidates kept so far.
  auto probabilities = [&](size_t n) {
    std::vector<double> p(n);
    double top = logits[size_t(order[0])] / o.temperature, total = 0;
    for (size_t i = 0; i < n; ++i) total += p[i] = std::exp(logits[size_t(order[i])] / o.temperature - top);
    for (double& v : p) v /= total;
    return p;
  };
  if (o.top_p < 1.0f) {
    std::vector<double> p = probabilities(keep);
    double cumulative = 0;
    size_t n = 0;
    while (n < keep && cumulative < o.top_p) cumulative += p[n++];
    keep = std::max<size_t>(n, 1);
  }
  if (o.min_p > 0.0f) {
    std::vector<double> p = probabilities(keep);
    size_t n = 1;
    while (n < keep && p[n] >= o.min_p * p[0]) ++n;
    keep = n;
  }
  std::vector<double> p = probabilities(keep);
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_), cumulative = 0;
  for (size_t i = 0; i < keep; ++i)
    if ((cumulative += p[i]) > u) return order[i];
  return order[keep - 1];
}

}  // namespace tessera
