// oneDNN kernels for gemm_compare (see gemm_compare.h): the BLAS-like entry points (dnnl_sgemm,
// dnnl_gemm_bf16bf16f32, dnnl_gemm_u8s8s32) and the matmul primitive, which is where oneDNN's
// AMX/AVX512-BF16 brgemm kernels live. Matmul is measured three ways: primitive created on every
// call (what a stateless wrapper pays), primitive created once (a caller-side cache), and with
// weights reordered once into oneDNN's blocked layout (a packed-weight Linear).
#include <oneapi/dnnl/dnnl.hpp>

#include "gemm_compare.h"

// Exported by libdnnl 2.6 and used by its benchdnn, but declared in the public header only from
// oneDNN 3.x on. Row-major like dnnl_sgemm.
extern "C" dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t m, dnnl_dim_t n,
                                               dnnl_dim_t k, float alpha, const uint16_t* a,
                                               dnnl_dim_t lda, const uint16_t* b, dnnl_dim_t ldb,
                                               float beta, float* c, dnnl_dim_t ldc);

namespace gemm_compare {
namespace {

using dnnl::memory;
using Type = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

struct MatmulConfig {
  Type a_type, b_type, c_type;
  bool packed_weights;
};

memory::desc weights_desc(const Operands& o, Type type) {
  return o.trans_b ? memory::desc({o.k, o.n}, type, memory::dims{1, o.k})
                   : memory::desc({o.k, o.n}, type, memory::dims{o.n, 1});
}

dnnl::matmul::primitive_desc matmul_desc(const Operands& o, const MatmulConfig& config) {
  const memory::desc a({o.m, o.k}, config.a_type, memory::dims{o.k, 1});
  const memory::desc b = config.packed_weights
                             ? memory::desc({o.k, o.n}, config.b_type, memory::format_tag::any)
                             : weights_desc(o, config.b_type);
  const memory::desc c({o.m, o.n}, config.c_type, memory::dims{o.n, 1});
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), cpu_engine());
}

const void* a_of(const Operands& o, Type t) {
  return t == Type::f32    ? static_cast<const void*>(o.a_f32)
         : t == Type::bf16 ? static_cast<const void*>(o.a_bf16)
                           : static_cast<const void*>(o.a_u8);
}
const void* b_of(const Operands& o, Type t) {
  return t == Type::f32    ? static_cast<const void*>(o.b_f32)
         : t == Type::bf16 ? static_cast<const void*>(o.b_bf16)
                           : static_cast<const void*>(o.b_s8);
}
void* c_of(const Operands& o, Type t) {
  return t == Type::s32 ? static_cast<void*>(o.c_s32) : static_cast<void*>(o.c_f32);
}

void execute(const dnnl::matmul::primitive_desc& pd, const dnnl::matmul& matmul, const void* a,
             const memory& b, void* c) {
  dnnl::engine& engine = cpu_engine();
  dnnl::stream stream(engine);
  matmul.execute(stream, {{DNNL_ARG_SRC, memory(pd.src_desc(), engine, const_cast<void*>(a))},
                          {DNNL_ARG_WEIGHTS, b},
                          {DNNL_ARG_DST, memory(pd.dst_desc(), engine, c)}});
  stream.wait();
}

Kernel matmul_kernel(std::string name, InputType input, MatmulConfig config, bool cache_primitive) {
  return {std::move(name), input, [config, cache_primitive](const Operands& o) {
            dnnl::engine& engine = cpu_engine();
            const void* a = a_of(o, config.a_type);
            void* c = c_of(o, config.c_type);
            memory plain_b(weights_desc(o, config.b_type), engine,
                           const_cast<void*>(b_of(o, config.b_type)));
            if (!cache_primitive) {
              return std::function<void()>([o, config, a, c, plain_b] {
                const auto pd = matmul_desc(o, config);
                execute(pd, dnnl::matmul(pd), a, plain_b, c);
              });
            }
            const auto pd = matmul_desc(o, config);
            memory b = plain_b;
            if (config.packed_weights) {  // reordered once, outside the timed call
              b = memory(pd.weights_desc(), engine);
              dnnl::stream stream(engine);
              dnnl::reorder(plain_b, b).execute(stream, plain_b, b);
              stream.wait();
            }
            return std::function<void()>(
                [pd, matmul = dnnl::matmul(pd), a, b, c] { execute(pd, matmul, a, b, c); });
          }};
}

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    default:
      return "other";
  }
}

std::string impl_of(const MatmulConfig& config) {
  const Operands o{128,     768,     768,     true,    nullptr, nullptr,
                   nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  return matmul_desc(o, config).impl_info_str();
}

}  // namespace

std::string library_name() { return "onednn"; }

std::string library_report() {
  const dnnl_version_t* v = dnnl_version();
  std::string report =
      "# dnnl_version: " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
      std::to_string(v->patch) + " cpu_runtime=" + std::to_string(v->cpu_runtime) +
      " (2 = OpenMP)\n# dnnl_get_effective_cpu_isa: " + isa_name(dnnl_get_effective_cpu_isa()) +
      "\n";
  const std::pair<const char*, MatmulConfig> configs[] = {
      {"f32", {Type::f32, Type::f32, Type::f32, true}},
      {"bf16", {Type::bf16, Type::bf16, Type::f32, true}},
      {"u8s8s32", {Type::u8, Type::s8, Type::s32, true}},
      {"bf16 plain weights", {Type::bf16, Type::bf16, Type::f32, false}},
  };
  for (const auto& [name, config] : configs)
    report += std::string("# matmul ") + name + " 128x768x768 impl: " + impl_of(config) + "\n";
  return report;
}

void set_library_threads(int) {}  // the OpenMP runtime: the harness's omp_set_num_threads rules

std::vector<Kernel> library_kernels() {
  std::vector<Kernel> kernels;
  kernels.push_back({"dnnl_sgemm", InputType::f32, [](const Operands& o) {
                       return std::function<void()>([o] {
                         dnnl_sgemm('N', o.trans_b ? 'T' : 'N', o.m, o.n, o.k, 1.0f, o.a_f32, o.k,
                                    o.b_f32, o.trans_b ? o.k : o.n, 0.0f, o.c_f32, o.n);
                       });
                     }});
  kernels.push_back(
      matmul_kernel("matmul f32", InputType::f32, {Type::f32, Type::f32, Type::f32, false}, true));
  kernels.push_back(matmul_kernel("matmul f32 packed", InputType::f32,
                                  {Type::f32, Type::f32, Type::f32, true}, true));
  kernels.push_back({"dnnl_gemm_bf16bf16f32", InputType::bf16, [](const Operands& o) {
                       return std::function<void()>([o] {
                         dnnl_gemm_bf16bf16f32('N', o.trans_b ? 'T' : 'N', o.m, o.n, o.k, 1.0f,
                                               reinterpret_cast<const uint16_t*>(o.a_bf16), o.k,
                                               reinterpret_cast<const uint16_t*>(o.b_bf16),
                                               o.trans_b ? o.k : o.n, 0.0f, o.c_f32, o.n);
                       });
                     }});
  kernels.push_back(matmul_kernel("matmul bf16 uncached", InputType::bf16,
                                  {Type::bf16, Type::bf16, Type::f32, false}, false));
  kernels.push_back(matmul_kernel("matmul bf16", InputType::bf16,
                                  {Type::bf16, Type::bf16, Type::f32, false}, true));
  kernels.push_back(matmul_kernel("matmul bf16 packed", InputType::bf16,
                                  {Type::bf16, Type::bf16, Type::f32, true}, true));
  kernels.push_back({"dnnl_gemm_u8s8s32", InputType::int8, [](const Operands& o) {
                       return std::function<void()>([o] {
                         const int32_t no_offset = 0;
                         dnnl_gemm_u8s8s32('N', o.trans_b ? 'T' : 'N', 'F', o.m, o.n, o.k, 1.0f,
                                           o.a_u8, o.k, 0, o.b_s8, o.trans_b ? o.k : o.n, 0, 0.0f,
                                           o.c_s32, o.n, &no_offset);
                       });
                     }});
  kernels.push_back(matmul_kernel("matmul u8s8s32 packed", InputType::int8,
                                  {Type::u8, Type::s8, Type::s32, true}, true));
  return kernels;
}

}  // namespace gemm_compare
