#pragma once
// The op conformance table: every op, with a float64 reference implementation, run on any
// device and dtype (the llama.cpp test-backend-ops / CTranslate2 per-device pattern). Used by
// tests/core/test_ops.cpp and by `tessera selfcheck`.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/ops.h"

namespace tessera::testing {

// A row-major float64 tensor: reference inputs and outputs.
struct RefTensor {
  Shape shape;
  std::vector<double> data;
  bool exact = false;  // integer results (indices, casts) compare exactly
  // The dtype the values were stored in, so a reference can round what the op stores in that
  // dtype (quantization scales and biases) the same way.
  Dtype dtype = Dtype::float32;
  double at(const std::vector<int64_t>& index) const;  // broadcasting, right-aligned
};

struct InputSpec {
  enum class Kind { normal, positive, indices, mask };
  Shape shape;
  Kind kind = Kind::normal;
  int64_t high = 0;                 // indices: values in [0, high)
  Dtype index_dtype = Dtype::int32;  // indices: storage type
};

struct OpCase {
  std::string name;
  std::vector<InputSpec> inputs;
  std::function<Array(const std::vector<Array>&)> build;
  std::function<RefTensor(const std::vector<RefTensor>&)> reference;
  // Relative error allowed when the op is approximate by design (int8 compute); 0: the dtype's.
  double tolerance = 0;
  // An op only the CPU implements (int8 compute on AMX/VNNI): on other devices the check is that
  // it fails with a clear "not supported" error instead of crashing or silently running elsewhere.
  bool cpu_only = false;
};

const std::vector<OpCase>& op_cases();

struct CheckResult {
  bool passed = false;
  double error = 0;      // relative Frobenius error, or mismatching elements for exact results
  double tolerance = 0;
  std::string message;   // why it failed, empty when it passed
};

// Relative error allowed for results computed in `dtype`.
double tolerance(Dtype dtype);
// Draws inputs from `seed`, runs the case on `device` with float inputs in `dtype`, and compares
// with the float64 reference on the same (rounded) inputs.
CheckResult run_op_case(const OpCase& c, Device device, Dtype dtype, uint64_t seed);

}  // namespace tessera::testing
