// quantized_matmul_int8 on the CPU: x quantized per token and group once, then the int8 group GEMM
// (backend/cpu/int8_gemm.h) with threads on disjoint blocks of output columns.
#include <omp.h>

#include <algorithm>
#include <optional>

#include "backend/cpu/int8_gemm.h"
#include "backend/cpu/int8_onednn.h"
#include "backend/cpu/strided.h"
#include "core/primitives.h"

namespace tessera {

void QuantizedMatmulInt8::eval_cpu(const std::vector<Array>& inputs, Array& out) {
  const Array& x = inputs[0];
  const Array& w = inputs[1];
  const int64_t k = x.shape(-1), n = out.shape(-1), m = x.size() / std::max<int64_t>(k, 1);
  std::shared_ptr<Buffer> w_copy;  // the codes must be rows of K bytes
  const uint8_t* codes = static_cast<const uint8_t*>(w.buffer()->host()) + w.offset() * 4;
  if (!w.is_contiguous()) {
    w_copy = Buffer::allocate_host(w.nbytes());
    cpu::copy_to_contiguous(w, w_copy->mutable_host(), Dtype::uint32);
    codes = static_cast<const uint8_t*>(w_copy->host());
  }
  cpu::Float32View scales = cpu::as_float32(inputs[2]), biases = cpu::as_float32(inputs[3]);
  std::optional<cpu::Float32View> bias;
  if (has_bias) bias = cpu::as_float32(inputs[4]);
  cpu::Float32View xf = cpu::as_float32(x);
  cpu::write_float32_result(out, [&](float* y) {
    if (k > 0 && m > 0 && cpu::onednn_int8_enabled() && !w_copy &&
        cpu::onednn_int8_linear(xf.data, m, k, w, scales.data, biases.data, group_size,
                                bias ? bias->data : nullptr, y))
      return;
    std::fill(y, y + out.size(), 0.0f);
    if (k > 0) {
      const cpu::Int8Activations a = cpu::quantize_activations(xf.data, m, k, group_size);
      const cpu::Int8Weights weights{codes, scales.data, biases.data, n, k, group_size};
      // One contiguous run of 16-column blocks per thread (each run sets up the tiles once).
      const int64_t blocks = (n + 15) / 16, threads = omp_get_max_threads();
      const int64_t per_thread = (blocks + threads - 1) / threads;
#pragma omp parallel for schedule(static) if (m * n * k >= cpu::kParallelThreshold)
      for (int64_t b = 0; b < blocks; b += per_thread)
        cpu::int8_group_gemm(a, weights, b * 16, std::min(n, (b + per_thread) * 16), y, n);
    }
    if (bias)
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) y[r * n + j] += bias->data[j];
  });
}

}  // namespace tessera
