#pragma once
// ||got - want|| / ||want|| over all elements, in float32 on the host (either array may live on a
// device or be strided); infinite when got has a non-finite value. The tests that compare a path
// with a reference share it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tessera/ops.h"

namespace tessera::testing_support {

inline double relative_error(const Array& got_array, const Array& want_array) {
  auto host = [](const Array& a) {
    return contiguous(to_device(astype(a, Dtype::float32), Device::cpu())).to_vector<float>();
  };
  std::vector<float> got = host(got_array), want = host(want_array);
  EXPECT_EQ(got.size(), want.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    diff += double(got[i] - want[i]) * double(got[i] - want[i]);
    norm += double(want[i]) * want[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-300));
}

}  // namespace tessera::testing_support
