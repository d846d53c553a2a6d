// Batched matrix product through cuBLASLt. Operands are read in place whenever their last two
// dims are row- or column-major (transposed views cost nothing); batch dims may be broadcast
// (stride 0), and a right operand shared by the whole batch folds the batch into M, so a Linear
// layer over [B,S,H] is one GEMM. The optional bias [N] is cuBLASLt's epilogue, added in float32
// before the single rounding. 16-bit products accumulate in float32; float32 products stay in
// float32 (no TF32: float32 results must be within 1e-5 of float64).
//
// cuBLASLt is column-major: a row-major C = A B is computed as C^T = B^T A^T, so cuBLASLt's "A"
// is our b and its "B" is our a.
#include <cublasLt.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "backend/cuda/copy.h"
#include "backend/cuda/runtime.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemv.h"
#include "core/primitives.h"

namespace tessera {

namespace cuda {

namespace {

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(current_op(), std::string("cuBLASLt error: ") + cublasLtGetStatusString(status) + " (" + call + ")");
}
#define TESSERA_CUBLAS_CHECK(call) check_cublas((call), #call)

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // what cuBLASLt recommends on Hopper

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

LtContext& lt_context() {
  static LtContext context = [] {
    LtContext c;
    TESSERA_CUBLAS_CHECK(cublasLtCreate(&c.handle));
    check(cudaMalloc(&c.workspace, kWorkspaceBytes), "cudaMalloc(cuBLASLt workspace)");
    return c;
  }();
  return context;
}

// One operand in cuBLASLt's terms: a column-major rows x cols matrix with leading dimension ld,
// used as is or transposed.
struct LtOperand {
  const void* data;
  cublasOperation_t op;
  int64_t rows, cols, ld;
  int64_t batch_stride;
  std::shared_ptr<Buffer> owned;  // a compacted copy, when the strides did not allow in place
};

// A row-major [rows, cols] matrix with these strides, seen column-major as its transpose
// (row-major, op N) or as itself (column-major, op T), if either fits.
std::optional<std::tuple<cublasOperation_t, int64_t, int64_t, int64_t>> lt_view(int64_t rows, int64_t cols,
                                                                                int64_t row_stride,
                                                                                int64_t col_stride) {
  if ((col_stride == 1 || cols == 1) && (rows == 1 || row_stride >= std::max<int64_t>(cols, 1)))
    return std::tuple{CUBLAS_OP_N, cols, rows, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  if ((row_stride == 1 || rows == 1) && (cols == 1 || col_stride >= std::max<int64_t>(rows, 1)))
    return std::tuple{CUBLAS_OP_T, rows, cols, cols == 1 ? std::max<int64_t>(rows, 1) : col_stride};
  return std::nullopt;
}

// Batch dims merged into one (count, stride per operand) where the strides allow it.
struct Batch {
  int64_t count = 1;
  int64_t a_stride = 0, b_stride = 0;
  bool uniform = true;
};

Batch collapse_batch(const Array& a, const Array& b) {
  Batch batch;
  int nd = a.ndim() - 2;
  bool first = true;
  for (int d = nd - 1; d >= 0; --d) {
    int64_t size = a.shape()[size_t(d)];
    if (size == 1) continue;
    int64_t sa = a.strides()[size_t(d)], sb = b.strides()[size_t(d)];
    if (first) {
      batch = {size, sa, sb, true};
      first = false;
    } else if (sa == batch.a_stride * batch.count && sb == batch.b_stride * batch.count) {
      batch.count *= size;
    } else {
      batch.uniform = false;
      batch.count *= size;
    }
  }
  return batch;
}

LtOperand operand(const Array& x, bool left, Dtype dtype, int64_t batch_stride) {
  int nd = x.ndim();
  int64_t rows = x.shape()[size_t(nd - 2)], cols = x.shape()[size_t(nd - 1)];
  auto view = lt_view(rows, cols, x.strides()[size_t(nd - 2)], x.strides()[size_t(nd - 1)]);
  if (view) {
    auto [op, lt_rows, lt_cols, ld] = *view;
    const void* base = static_cast<const uint8_t*>(x.buffer()->device(Device::cuda(0))) + x.offset() * int64_t(itemsize(dtype));
    return {base, op, lt_rows, lt_cols, ld, batch_stride, nullptr};
  }
  auto copy = contiguous_copy(x, dtype);
  return {copy->device(Device::cuda(0)), CUBLAS_OP_N, cols, rows, std::max<int64_t>(cols, 1), rows * cols, copy};
}

// The alignment (up to 256 bytes) every batch entry of an operand starts at.
int alignment_of(const void* p, int64_t batch_stride_bytes = 0) {
  auto address = reinterpret_cast<uintptr_t>(p);
  int align = 256;
  while (align > 1 && (address % uintptr_t(align) != 0 || batch_stride_bytes % align != 0)) align /= 2;
  return align;
}

struct PlanKey {
  int dtype;
  int op_a, op_b;
  int64_t m, n, k, lda, ldb, ldc, batch, stride_a, stride_b, stride_c;
  bool bias;
  bool gelu_tanh;  // the GELU_BIAS epilogue: tanh-approximate GELU after the bias
  int align_a, align_b;
  auto tie() const {
    return std::tie(dtype, op_a, op_b, m, n, k, lda, ldb, ldc, batch, stride_a, stride_b, stride_c, bias, gelu_tanh,
                    align_a, align_b);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// Descriptors and the algorithm, made once per shape: the heuristic proposes a few candidates
// and the first call outside graph capture times them on its own operands and keeps the fastest
// (the heuristic's first choice is not always the fastest at these shapes).
constexpr int kCandidates = 8;

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  std::vector<cublasLtMatmulAlgo_t> candidates;
  bool tuned = false;
};

cudaDataType_t cuda_type(Dtype dtype) {
  switch (dtype) {
    case Dtype::float16: return CUDA_R_16F;
    case Dtype::bfloat16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t stride) {
  cublasLtMatrixLayout_t layout;
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    TESSERA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return layout;
}

Plan& plan_for(const PlanKey& key) {
  static std::map<PlanKey, Plan> cache;  // plans live as long as the process: never destroyed
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  cudaDataType_t type = cuda_type(Dtype(key.dtype));
  Plan p;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  auto op_a = cublasOperation_t(key.op_a), op_b = cublasOperation_t(key.op_b);
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  if (key.bias) {
    cublasLtEpilogue_t epilogue = key.gelu_tanh ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  }
  bool a_n = op_a == CUBLAS_OP_N, b_n = op_b == CUBLAS_OP_N;
  p.a = make_layout(type, a_n ? key.m : key.k, a_n ? key.k : key.m, key.lda, key.batch, key.stride_a);
  p.b = make_layout(type, b_n ? key.k : key.n, b_n ? key.n : key.k, key.ldb, key.batch, key.stride_b);
  p.c = make_layout(type, key.m, key.n, key.ldc, key.batch, key.stride_c);

  cublasLtMatmulPreference_t preference;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  uint64_t workspace = kWorkspaceBytes;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &workspace, sizeof(workspace)));
  // Views with an offset may be less aligned than the 256 bytes cuBLASLt assumes by default.
  uint32_t align_a = uint32_t(key.align_a), align_b = uint32_t(key.align_b), align_c = 256;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                            &align_a, sizeof(align_a)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                            &align_b, sizeof(align_b)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                            &align_c, sizeof(align_c)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                            &align_c, sizeof(align_c)));
  cublasLtMatmulHeuristicResult_t results[kCandidates] = {};
  int found = 0;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_context().handle, p.desc, p.a, p.b, p.c, p.c, preference,
                                                      kCandidates, results, &found));
  cublasLtMatmulPreferenceDestroy(preference);
  if (found == 0)
    fail(current_op(), "cuBLASLt has no algorithm for m=" + std::to_string(key.m) + " n=" + std::to_string(key.n) +
                           " k=" + std::to_string(key.k));
  for (int i = 0; i < found; ++i) p.candidates.push_back(results[i].algo);
  // Split-K forms of the first candidates join the timing: a prompt's GEMMs with few output tiles
  // (M = 512 against N = 4096: 64 tiles of 128x256 for 132 SMs) leave SMs idle otherwise.
  for (int i = 0; i < std::min(found, 4); ++i) {
    int32_t split_k_support = 0;
    size_t written = 0;
    if (cublasLtMatmulAlgoCapGetAttribute(&results[i].algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &split_k_support,
                                          sizeof(split_k_support), &written) != CUBLAS_STATUS_SUCCESS ||
        !split_k_support)
      continue;
    for (int32_t splits : {2, 4}) {
      cublasLtMatmulAlgo_t algo = results[i].algo;
      cublasLtMatmulHeuristicResult_t checked = {};
      if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits, sizeof(splits)) ==
              CUBLAS_STATUS_SUCCESS &&
          cublasLtMatmulAlgoCheck(lt_context().handle, p.desc, p.a, p.b, p.c, p.c, &algo, &checked) ==
              CUBLAS_STATUS_SUCCESS &&
          checked.workspaceSize <= kWorkspaceBytes)
        p.candidates.push_back(algo);
    }
  }
  p.tuned = p.candidates.size() == 1;
  return cache.emplace(key, p).first->second;
}

// Times every candidate (after one untimed call each) and moves the fastest to the front; a
// candidate that fails to run is dropped.
template <typename Run>
void tune(Plan& plan, Run run) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<std::pair<float, cublasLtMatmulAlgo_t>> timed;
  for (const auto& algo : plan.candidates) {
    if (run(algo) != CUBLAS_STATUS_SUCCESS) continue;
    check(cudaEventRecord(start, stream()), "cudaEventRecord");
    for (int i = 0; i < 3; ++i) run(algo);
    check(cudaEventRecord(stop, stream()), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    timed.emplace_back(ms, algo);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (timed.empty()) fail(current_op(), "no cuBLASLt algorithm ran for this shape");
  std::stable_sort(timed.begin(), timed.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  plan.candidates.clear();
  for (const auto& [ms, algo] : timed) plan.candidates.push_back(algo);
  plan.tuned = true;
}

}  // namespace

void gemm(const Array& a_in, const Array& b_in, const Array* bias, Array& out, bool gelu_tanh) {
  Dtype dtype = out.dtype();
  size_t item = itemsize(dtype);
  int nd = out.ndim();
  int64_t m = out.shape()[size_t(nd - 2)], n = out.shape()[size_t(nd - 1)], k = a_in.shape(-1);
  Batch batch = collapse_batch(a_in, b_in);
  // Batch dims that do not merge into one stride: compact both operands (rare: mixed broadcasts).
  Array a = a_in, b = b_in;
  if (!batch.uniform) {
    a = Array::from_buffer(contiguous_copy(a_in, dtype), a_in.shape(), dtype);
    b = Array::from_buffer(contiguous_copy(b_in, dtype), b_in.shape(), dtype);
    batch = collapse_batch(a, b);
  }
  // A right operand shared by the batch with evenly spaced left rows: one GEMM over batch*M rows.
  int64_t a_row_stride = a.strides()[size_t(nd - 2)];
  bool fold = batch.count > 1 && batch.b_stride == 0 && a.strides()[size_t(nd - 1)] == 1 && m > 0 &&
              batch.a_stride == m * a_row_stride && (m == 1 ? batch.a_stride >= k : true);
  int64_t rows = fold ? m * batch.count : m, batches = fold ? 1 : batch.count;
  if (fold) {
    // View a as [batch*M, K] with the row stride of its matrices.
    int64_t row_stride = m == 1 ? batch.a_stride : a_row_stride;
    a = Array::from_buffer(a.buffer(), {rows, k}, dtype, {row_stride, 1}, a.offset());
  }
  // A few rows against a weight whose rows are contiguous (x W^T, decoding): the bandwidth-bound
  // matrix-vector kernel instead of a GEMM tiled for large M.
  int nd_a = a.ndim();
  if (!gelu_tanh && batches == 1 && rows <= kGemvMaxRows && b.strides()[size_t(nd - 2)] == 1 &&
      a.strides()[size_t(nd_a - 1)] == 1 &&
      (!bias || bias->strides()[0] == 1 || n == 1)) {
    const uint8_t* a_base = static_cast<const uint8_t*>(a.buffer()->device(Device::cuda(0))) + a.offset() * int64_t(item);
    const uint8_t* b_base = static_cast<const uint8_t*>(b.buffer()->device(Device::cuda(0))) + b.offset() * int64_t(item);
    const void* bias_ptr = bias ? static_cast<const uint8_t*>(bias->buffer()->device(Device::cuda(0))) +
                                      bias->offset() * int64_t(item)
                                : nullptr;
    GemvOperands g{a_base, rows == 1 ? k : a.strides()[size_t(nd_a - 2)], b_base, b.strides()[size_t(nd - 1)],
                   bias_ptr, out.buffer()->mutable_device(out.device()), rows, n, k};
    if (gemv(dtype, g)) return;
  }
  LtOperand lt_a = operand(b, false, dtype, batch.b_stride);  // cuBLASLt's A is our b
  LtOperand lt_b = operand(a, true, dtype, fold ? 0 : batch.a_stride);
  if (batches > 1 && (lt_a.owned || lt_b.owned)) {  // compacted operands carry their own batch strides
    if (lt_a.owned) lt_a.batch_stride = batch.b_stride == 0 ? 0 : k * n;
    if (lt_b.owned) lt_b.batch_stride = m * k;
  }
  void* c = out.buffer()->mutable_device(out.device());
  const void* bias_data = nullptr;
  std::shared_ptr<Buffer> bias_copy;
  if (bias) {
    bias_data = static_cast<const uint8_t*>(bias->buffer()->device(Device::cuda(0))) + bias->offset() * int64_t(item);
    // The epilogue reads a unit-stride vector and assumes the default (256-byte) alignment.
    if ((bias->strides()[0] != 1 && n != 1) || alignment_of(bias_data) < 256) {
      bias_copy = contiguous_copy(*bias, dtype);
      bias_data = bias_copy->device(Device::cuda(0));
    }
  }
  PlanKey key{int(dtype), int(lt_a.op), int(lt_b.op), n, rows, k, lt_a.ld, lt_b.ld, n, batches, lt_a.batch_stride,
              lt_b.batch_stride, m * n, bias != nullptr, gelu_tanh && bias != nullptr, alignment_of(lt_a.data, lt_a.batch_stride * int64_t(item)),
              alignment_of(lt_b.data, lt_b.batch_stride * int64_t(item))};
  Plan& plan = plan_for(key);
  if (bias)
    TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_data,
                                                        sizeof(bias_data)));
  auto run = [&](const cublasLtMatmulAlgo_t& algo) {
    float alpha = 1.0f, beta = 0.0f;
    return cublasLtMatmul(lt_context().handle, plan.desc, &alpha, lt_a.data, plan.a, lt_b.data, plan.b, &beta, c,
                          plan.c, c, plan.c, &algo, lt_context().workspace, kWorkspaceBytes, stream());
  };
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream(), &capturing), "cudaStreamIsCapturing");
  if (!plan.tuned && capturing == cudaStreamCaptureStatusNone) tune(plan, run);
  TESSERA_CUBLAS_CHECK(run(plan.candidates.front()));
}

}  // namespace cuda

void Matmul::eval_cuda(const std::vector<Array>& inputs, Array& out) {
  cuda::OpScope scope(inputs.size() == 3 ? "addmm" : "matmul");
  TESSERA_CHECK(is_floating(out.dtype()), "matmul", "expects floating-point operands");
  out.allocate();
  if (out.size() == 0) return;
  const Array* bias = inputs.size() == 3 ? &inputs[2] : nullptr;
  if (inputs[0].shape(-1) == 0) {  // empty inner dimension: zeros, plus the bias if any
    void* c = out.buffer()->mutable_device(out.device());
    if (!bias) {
      cuda::check(cudaMemsetAsync(c, 0, out.nbytes(), cuda::stream()), "cudaMemsetAsync");
      return;
    }
    Strides rows_of_bias(size_t(out.ndim()), 0);
    rows_of_bias.back() = bias->strides()[0];
    cuda::copy_strided(Array::from_buffer(bias->buffer(), out.shape(), out.dtype(), rows_of_bias, bias->offset()), c,
                       out.dtype());
    return;
  }
  cuda::gemm(inputs[0], inputs[1], bias, out);
}

}  // namespace tessera
