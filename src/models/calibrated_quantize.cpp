#include "models/calibrated_quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "models/weights.h"
#include "tessera/half.h"

namespace tessera {

namespace {

// Scales and biases are stored in the weights' dtype; the integers must be chosen against the
// stored (rounded) values or the file would not dequantize to what was optimised.
double round_to(double v, Dtype dtype) {
  if (dtype == Dtype::float16) return to_float(to_float16(float(v)));
  if (dtype == Dtype::bfloat16) return to_float(to_bfloat16(float(v)));
  return double(float(v));
}

struct GroupParams {
  double scale, bias;
};

// mlx.core.quantize's choice for one group (see quantize in ops.h): the starting point of the
// search, so the search never does worse than round-to-nearest on its own objective.
GroupParams mlx_params(const double* w, int n, int levels) {
  double lo = *std::min_element(w, w + n), hi = *std::max_element(w, w + n);
  const bool low_edge = std::abs(lo) > std::abs(hi);
  double scale = std::max((hi - lo) / levels, 1e-7);
  if (!low_edge) scale = -scale;
  const double edge = low_edge ? lo : hi;
  const double q0 = std::rint(edge / scale);
  if (q0 != 0) scale = edge / q0;
  return {scale, q0 == 0 ? 0.0 : edge};
}

double level(double w, GroupParams p, int levels) {
  return std::clamp(std::rint((w - p.bias) / p.scale), 0.0, double(levels));
}

// sum_j h_j (w_j - dequantized_j)^2 with the params rounded to the stored dtype.
double weighted_error(const double* w, const double* h, int n, GroupParams p, int levels) {
  double e = 0;
  for (int j = 0; j < n; ++j) {
    const double d = w[j] - (p.scale * level(w[j], p, levels) + p.bias);
    e += h[j] * d * d;
  }
  return e;
}

GroupParams stored(GroupParams p, Dtype dtype) {
  return {round_to(p.scale, dtype), round_to(p.bias, dtype)};
}

// The group's scale and bias minimising the h-weighted error: MLX's choice, ranges whose ends
// are pulled in (clipping the outliers of a group often lowers the error of all the others),
// then alternating least squares of (scale, bias) for fixed levels and re-rounding.
GroupParams search_params(const double* w, const double* h, int n, int levels, Dtype dtype) {
  GroupParams best = stored(mlx_params(w, n, levels), dtype);
  double best_error = weighted_error(w, h, n, best, levels);
  auto consider = [&](GroupParams p) {
    if (!(std::abs(p.scale) > 1e-12) || !std::isfinite(p.scale) || !std::isfinite(p.bias)) return;
    p = stored(p, dtype);
    if (p.scale == 0) return;
    const double e = weighted_error(w, h, n, p, levels);
    if (e < best_error) best_error = e, best = p;
  };
  const double lo = *std::min_element(w, w + n), hi = *std::max_element(w, w + n);
  constexpr int kSteps = 10;
  for (int a = 0; a < kSteps; ++a)
    for (int b = 0; b < kSteps; ++b) {
      const double lo_f = 1.0 - 0.4 * a / (kSteps - 1), hi_f = 1.0 - 0.4 * b / (kSteps - 1);
      consider({std::max((hi * hi_f - lo * lo_f) / levels, 1e-9), lo * lo_f});
    }
  for (int round = 0; round < 3; ++round) {
    double sw = 0, sq = 0, sx = 0;
    for (int j = 0; j < n; ++j)
      sw += h[j], sq += h[j] * level(w[j], best, levels), sx += h[j] * w[j];
    if (sw <= 0) break;
    const double mq = sq / sw, mx = sx / sw;
    double cov = 0, var = 0;
    for (int j = 0; j < n; ++j) {
      const double dq = level(w[j], best, levels) - mq;
      cov += h[j] * dq * (w[j] - mx);
      var += h[j] * dq * dq;
    }
    if (var <= 1e-12) break;
    const double scale = cov / var;
    consider({scale, mx - scale * mq});
  }
  return best;
}

// Upper-triangular U with U^T U = H^-1: the Cholesky factor of H with rows and columns reversed,
// inverted (H reversed = L L^T gives H^-1 = R L^-T L^-1 R, and R L^-1 R is upper triangular).
// Fails when H is not positive definite (the caller damps it first).
std::vector<double> inverse_upper_cholesky(std::vector<double> h, int n) {
  // Reverse rows and columns, then factor in place (lower triangle).
  std::vector<double> a(size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) a[size_t(i) * n + j] = h[size_t(n - 1 - i) * n + (n - 1 - j)];
  for (int j = 0; j < n; ++j) {
    double* row_j = &a[size_t(j) * n];
    double d = row_j[j];
    for (int k = 0; k < j; ++k) d -= row_j[k] * row_j[k];
    TESSERA_CHECK(d > 0, "calibrated quantize",
                  "the calibration inputs' second moment is not positive definite");
    const double l = std::sqrt(d);
    row_j[j] = l;
#pragma omp parallel for schedule(static)
    for (int i = j + 1; i < n; ++i) {
      double* row_i = &a[size_t(i) * n];
      double s = row_i[j];
      for (int k = 0; k < j; ++k) s -= row_i[k] * row_j[k];
      row_i[j] = s / l;
    }
  }
  // Inverse of the lower-triangular factor, row by row: row i = (e_i - sum_k<i L[i,k] row k) /
  // L[i,i], every access a contiguous row.
  std::vector<double> inv(size_t(n) * n, 0.0);
  for (int i = 0; i < n; ++i) {
    double* row_i = &inv[size_t(i) * n];
    row_i[i] = 1.0;
    const double* l_i = &a[size_t(i) * n];
    for (int k = 0; k < i; ++k) {
      const double f = l_i[k];
      const double* row_k = &inv[size_t(k) * n];
      for (int c = 0; c <= k; ++c) row_i[c] -= f * row_k[c];
    }
    const double d = l_i[i];
    for (int c = 0; c <= i; ++c) row_i[c] /= d;
  }
  std::vector<double> u(size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) u[size_t(i) * n + j] = inv[size_t(n - 1 - i) * n + (n - 1 - j)];
  return u;
}

std::vector<double> to_doubles(const Array& a) {
  std::vector<float> f = astype(a, Dtype::float32).to_vector<float>();
  return {f.begin(), f.end()};
}

}  // namespace

QuantizedArrays calibrated_quantize(const Array& w, const std::vector<double>& gram,
                                    const QuantizationSpec& spec) {
  check_quantization_spec(spec, "calibrated quantize");
  TESSERA_CHECK(w.ndim() == 2 && is_floating(w.dtype()), "calibrated quantize",
                "expected a floating-point [out, in] weight, got " + std::string(name(w.dtype())) +
                    " " + to_string(w.shape()));
  const int64_t rows = w.shape(0), n = w.shape(1);
  const int group = spec.group_size, levels = (1 << spec.bits) - 1;
  TESSERA_CHECK(n % group == 0, "calibrated quantize",
                "input size " + std::to_string(n) + " is not a multiple of the group size " +
                    std::to_string(group));
  TESSERA_CHECK(int64_t(gram.size()) == n * n, "calibrated quantize",
                "the calibration second moment has " + std::to_string(gram.size()) +
                    " entries, expected " + std::to_string(n * n));
  std::vector<double> weights = to_doubles(w);

  // Inputs never seen (a zero diagonal) cannot be told apart: their columns quantize to
  // round-to-nearest with no error to spread, and a small damping (1% of the mean diagonal,
  // GPTQ's choice) keeps H invertible whatever the calibration set.
  std::vector<double> h = gram;
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += h[size_t(i * n + i)];
  mean_diag /= double(n);
  if (mean_diag <= 0) mean_diag = 1;
  for (int64_t i = 0; i < n; ++i) {
    double& d = h[size_t(i * n + i)];
    if (d <= 0) d = mean_diag;
    d += 0.01 * mean_diag;
  }
  const std::vector<double> u = inverse_upper_cholesky(h, int(n));
  std::vector<double> diag(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) diag[size_t(i)] = gram[size_t(i * n + i)] + 1e-3 * mean_diag;

  const int64_t groups = n / group;
  std::vector<uint8_t> q(size_t(rows * n));
  std::vector<double> scales(size_t(rows * groups)), biases(size_t(rows * groups));
  // Each row's error spreads only along that row, so rows are independent; a block of rows
  // walks the columns together so each row of U is read once per block, not once per row.
  constexpr int64_t kBlock = 16;
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t first = block * kBlock, last = std::min(rows, first + kBlock);
    GroupParams params[kBlock];
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t start = g * group;
      for (int64_t r = first; r < last; ++r) {
        const GroupParams p = search_params(&weights[size_t(r * n + start)], &diag[size_t(start)],
                                            group, levels, w.dtype());
        params[r - first] = p;
        scales[size_t(r * groups + g)] = p.scale;
        biases[size_t(r * groups + g)] = p.bias;
      }
      for (int64_t i = start; i < start + group; ++i) {
        const double* u_row = &u[size_t(i * n)];
        const double pivot = u_row[i];
        for (int64_t r = first; r < last; ++r) {
          double* row = &weights[size_t(r * n)];
          const GroupParams p = params[r - first];
          const double l = level(row[i], p, levels);
          q[size_t(r * n + i)] = uint8_t(l);
          const double err = (row[i] - (p.scale * l + p.bias)) / pivot;
          for (int64_t j = i + 1; j < n; ++j) row[j] -= err * u_row[j];
        }
      }
    }
  }

  // Pack low bits first into uint32 words, as MLX does.
  const int per_word = 32 / spec.bits;
  std::vector<uint32_t> packed(size_t(rows * n / per_word), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      packed[size_t((r * n + i) / per_word)] |= uint32_t(q[size_t(r * n + i)])
                                                << (spec.bits * (i % per_word));
  std::vector<float> scales_f(scales.begin(), scales.end()), biases_f(biases.begin(), biases.end());
  QuantizedArrays out;
  out.weight = Array(packed, {rows, n / per_word});
  out.scales = astype(Array(scales_f, {rows, groups}), w.dtype());
  out.biases = astype(Array(biases_f, {rows, groups}), w.dtype());
  eval({out.weight, out.scales, out.biases});
  return out;
}

double calibration_error(const Array& w, const QuantizedArrays& q, const std::vector<double>& gram,
                         const QuantizationSpec& spec) {
  const int64_t rows = w.shape(0), n = w.shape(1);
  std::vector<double> a = to_doubles(w);
  std::vector<double> b =
      to_doubles(dequantize(q.weight, q.scales, q.biases, spec.group_size, spec.bits));
  double total = 0;
  std::vector<double> d(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) d[size_t(i)] = a[size_t(r * n + i)] - b[size_t(r * n + i)];
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += gram[size_t(i * n + j)] * d[size_t(j)];
      total += d[size_t(i)] * s;
    }
  }
  return total;
}

}  // namespace tessera
