// The two paths of nn::SparseMoE (gathered on the device, grouped by expert on the host; see
// nn/sparse_moe.h) each forced on every MoE fixture: both give transformers' logits, alone and
// through the KV cache one token at a time, and agree with each other on quantized experts.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "support/relative_error.h"
#include "models/causal_lm.h"
#include "nn/sparse_moe.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
const fs::path kDecoders = fs::path(TESSERA_FIXTURES) / "decoders";

ModelInputs inputs_of(const Array& ids) {
  ModelInputs in;
  in.input_ids = ids;
  return in;
}

using testing_support::relative_error;

struct MoEParam {
  std::string fixture;
  Device device;
  nn::MoEPath path;
};

std::vector<MoEParam> moe_params() {
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  std::vector<MoEParam> params;
  for (const char* f : {"mixtral", "olmoe", "qwen2_moe", "qwen3_moe"})
    for (Device d : devices)
      for (nn::MoEPath p : {nn::MoEPath::gathered, nn::MoEPath::grouped}) params.push_back({f, d, p});
  return params;
}

class MoEPaths : public ::testing::TestWithParam<MoEParam> {
 protected:
  void SetUp() override {
    set_default_device(GetParam().device);
    nn::set_moe_path(GetParam().path);
  }
  void TearDown() override {
    nn::set_moe_path(nn::MoEPath::automatic);
    set_default_device(Device::cpu());
  }
  std::unique_ptr<CausalLM> lm(LoadOptions options) const {
    options.device = GetParam().device;
    std::unique_ptr<Model> m = load_model((kDecoders / GetParam().fixture).string(), options);
    auto* lm = dynamic_cast<CausalLM*>(m.get());
    EXPECT_NE(lm, nullptr);
    m.release();
    return std::unique_ptr<CausalLM>(lm);
  }
  TensorMap file(const char* name) const { return load_safetensors((kDecoders / GetParam().fixture / name).string()); }
};

TEST_P(MoEPaths, LogitsMatchTransformers) {
  Array ids = file("inputs.safetensors").at("input_ids");
  Array want = file("expected.safetensors").at("logits");
  for (auto [dtype, tolerance] : {std::pair{Dtype::float32, 1e-5}, std::pair{Dtype::bfloat16, 2.5e-2}}) {
    LoadOptions options;
    options.dtype = dtype;
    EXPECT_LE(relative_error(lm(options)->forward(inputs_of(ids)).at("logits"), want), tolerance) << name(dtype);
  }
}

TEST_P(MoEPaths, IncrementalDecodingMatchesTransformers) {
  Array ids = file("inputs.safetensors").at("input_ids");
  Array want = file("expected.safetensors").at("logits");
  auto model = lm({});
  KVCache cache = model->make_cache();
  std::vector<Array> pieces;
  int64_t at = 0;
  for (int64_t n : {3, 1, 1, 1}) {
    pieces.push_back(model->forward(slice_axis(ids, 1, at, at + n), cache));
    at += n;
  }
  pieces.push_back(model->forward(slice_axis(ids, 1, at, ids.shape(1)), cache));
  EXPECT_LE(relative_error(concatenate(pieces, 1), want), 1e-5);
}

// Quantized at load (gate/up packed; down too where its input is a whole number of groups):
// the path taken must not change the logits beyond float32 summation order.
TEST_P(MoEPaths, QuantizedPathsAgree) {
  Array ids = file("inputs.safetensors").at("input_ids");
  for (int bits : {4, 8}) {
    LoadOptions options;
    options.quantize = QuantizationSpec{32, bits};
    Array got = lm(options)->forward(inputs_of(ids)).at("logits");
    nn::set_moe_path(GetParam().path == nn::MoEPath::gathered ? nn::MoEPath::grouped : nn::MoEPath::gathered);
    Array other = lm(options)->forward(inputs_of(ids)).at("logits");
    nn::set_moe_path(GetParam().path);
    EXPECT_LE(relative_error(got, other), 1e-5) << bits << " bits";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MoEPaths, ::testing::ValuesIn(moe_params()),
                         [](const ::testing::TestParamInfo<MoEParam>& info) {
                           return info.param.fixture + (info.param.device.type == DeviceType::cpu ? "_cpu" : "_cuda") +
                                  (info.param.path == nn::MoEPath::gathered ? "_gathered" : "_grouped");
                         });

}  // namespace
}  // namespace tessera
