// gather_matmul / gather_quantized_matmul: bad operands fail with one clear error naming the op;
// an index out of range fails on the CPU and, on a GPU, at the next synchronisation. (Their
// results are checked against float64 in the op table, tests/core/test_ops.cpp.)
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "tessera/error.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

Array ids(std::vector<int32_t> v) {
  int64_t n = int64_t(v.size());
  return Array(std::move(v), {n});
}

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    FAIL() << "expected an error containing \"" << fragment << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(GatherMatmul, RejectsBadOperands) {
  Array x = zeros({2, 8}), w = zeros({3, 4, 8});
  expect_error([&] { gather_matmul(x, zeros({4, 8}), ids({0, 1})); }, "[gather_matmul] experts must be stacked");
  expect_error([&] { gather_matmul(x, astype(w, Dtype::float16), ids({0, 1})); }, "x is float32 but the experts are float16");
  expect_error([&] { gather_matmul(x, w, Array(std::vector<int64_t>{0, 1}, {2})); }, "indices must be int32");
  expect_error([&] { gather_matmul(x, w, ids({0, 1, 2})); }, "to match indices");
  expect_error([&] { gather_matmul(zeros({2, 6}), w, ids({0, 1})); }, "does not align with 8 input features");
  expect_error([&] { gather_matmul(Array(std::vector<int32_t>(16), {2, 8}), astype(w, Dtype::int32), ids({0, 1})); },
               "floating-point");
  expect_error([&] { gather_matmul(x, zeros({3, 5, 8}), ids({0, 1}), Activation::silu); }, "even number of expert rows");
  Array top2 = Array(std::vector<int32_t>{0, 1, 2, 0}, {2, 2});
  expect_error([&] { gather_matmul(x, w, top2, Activation::none, zeros({2})); }, "must have the indices' shape");
  expect_error([&] { gather_matmul(x, w, top2, Activation::none, zeros({2, 2}, Dtype::int32)); }, "floating-point");
  EXPECT_EQ(gather_matmul(x, w, top2, Activation::silu, ones({2, 2})).shape(), (Shape{2, 2}));
  expect_error([&] { eval(gather_matmul(x, w, ids({0, 3}))); }, "index 3 out of range for 3 experts");
  expect_error([&] { eval(gather_matmul(x, w, ids({-1, 0}))); }, "index -1 out of range");
}

TEST(GatherQuantizedMatmul, RejectsBadOperands) {
  QuantizedArrays q = quantize(ones({3, 4, 64}), 32, 4);
  Array x = zeros({2, 64});
  const char* op = "[gather_quantized_matmul]";
  expect_error([&] { gather_quantized_matmul(x, q.weight, q.scales, q.biases, ids({0, 1}), 32, 3); }, op);
  expect_error([&] { gather_quantized_matmul(x, q.weight, q.scales, q.biases, ids({0, 1}), 64, 4); }, "need scales and biases");
  QuantizedArrays flat = quantize(ones({4, 64}), 32, 4);
  expect_error([&] { gather_quantized_matmul(x, flat.weight, flat.scales, flat.biases, ids({0, 1}), 32, 4); },
               "packed experts must be stacked");
  expect_error([&] { gather_quantized_matmul(zeros({2, 32}), q.weight, q.scales, q.biases, ids({0, 1}), 32, 4); },
               "does not align with 64 input features");
  expect_error([&] { eval(gather_quantized_matmul(x, q.weight, q.scales, q.biases, ids({5, 0}), 32, 4)); },
               "index 5 out of range for 3 experts");
}

// On a GPU an index that lives on the device is checked there: the row reads as zeros and the
// error surfaces when the stream is next synchronised, never an out-of-bounds read.
TEST(GatherMatmul, CudaIndexOutOfRangeIsReported) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  Device previous = default_device();
  set_default_device(Device::cuda(0));
  Array x = ones({2, 64}), w = ones({3, 8, 64});
  Array bad = add(to_device(ids({0, 2}), Device::cuda(0)), Array(std::vector<int32_t>{0, 5}, {2}));  // made on the device
  expect_error([&] { to_device(gather_matmul(x, w, bad), Device::cpu()).to_vector<float>(); }, "expert index out of range");
  QuantizedArrays q = quantize(w, 64, 4);
  expect_error([&] { to_device(gather_quantized_matmul(x, q.weight, q.scales, q.biases, bad, 64, 4), Device::cpu()).to_vector<float>(); },
               "expert index out of range");
  set_default_device(previous);
}

}  // namespace
}  // namespace tessera
