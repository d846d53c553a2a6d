#include "ops/op_utils.h"

namespace tessera::detail {

int normalize_axis(int axis, int ndim, const char* op) {
  int a = axis < 0 ? axis + ndim : axis;
  TESSERA_CHECK(a >= 0 && a < ndim, op,
                "axis " + std::to_string(axis) + " out of range for " + std::to_string(ndim) +
                    "-d array");
  return a;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TESSERA_CHECK(da == db || da == 1 || db == 1, op,
                  "shapes " + to_string(a) + " and " + to_string(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_floating(const Array& a, const char* op) {
  TESSERA_CHECK(is_floating(a.dtype()), op,
                "expects a floating-point array, got " + std::string(name(a.dtype())));
}

Array input_norm_weight(const InputRmsNorm& norm, const Array& x, Dtype dtype, const char* op) {
  check_floating(norm.weight, op);
  TESSERA_CHECK(norm.weight.ndim() == 1 && norm.weight.shape(0) == x.shape(-1), op,
                "input norm weight of shape " + to_string(norm.weight.shape()) + " does not match x " +
                    to_string(x.shape()));
  return astype(norm.weight, dtype);
}

}  // namespace tessera::detail
