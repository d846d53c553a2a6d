// Every decoder fixture (tests/fixtures/decoders/<case>: a tiny random-init causal LM made by
// generate.py with transformers) through tessera: teacher-forced logits within 1e-5 (float32) or
// 2.5e-2 (bfloat16, as the encoders), the same logits when the sequence is fed incrementally
// through the KV cache, and transformers' greedy continuation wherever its margins are clear.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include "support/relative_error.h"
#include "models/causal_lm.h"
#include "runtime/decode_graph.h"
#include "runtime/generator.h"
#include "tessera/error.h"
#include "tessera/ops.h"
#include "tessera/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
const fs::path kDecoders = fs::path(TESSERA_FIXTURES) / "decoders";

std::vector<std::string> fixtures() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kDecoders))
    if (fs::exists(entry.path() / "config.json")) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

using testing_support::relative_error;

std::unique_ptr<CausalLM> load_lm(const std::string& fixture, Dtype dtype = Dtype::float32,
                                  Device device = Device::cpu()) {
  std::unique_ptr<Model> m = load_model((kDecoders / fixture).string(), {device, dtype});
  auto* lm = dynamic_cast<CausalLM*>(m.get());
  EXPECT_NE(lm, nullptr);
  m.release();
  return std::unique_ptr<CausalLM>(lm);
}

// Every fixture on every available device (CTranslate2-style: the same checks per backend).
struct DecoderParam {
  std::string fixture;
  Device device;
};

std::vector<DecoderParam> decoder_params() {
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  std::vector<DecoderParam> params;
  for (const std::string& f : fixtures())
    for (Device d : devices) params.push_back({f, d});
  return params;
}

void PrintTo(const DecoderParam& p, std::ostream* os) { *os << p.fixture << " on " << to_string(p.device); }

class DecoderFixture : public ::testing::TestWithParam<DecoderParam> {
 protected:
  // Ops run on the default device; inputs made on the host are uploaded once.
  void SetUp() override { set_default_device(GetParam().device); }
  void TearDown() override { set_default_device(Device::cpu()); }
  const std::string& fixture() const { return GetParam().fixture; }
  std::unique_ptr<CausalLM> lm(Dtype dtype = Dtype::float32) const { return load_lm(fixture(), dtype, GetParam().device); }
};

TEST_P(DecoderFixture, LogitsMatchTransformers) {
  TensorMap inputs = load_safetensors((kDecoders / fixture() / "inputs.safetensors").string());
  TensorMap expected = load_safetensors((kDecoders / fixture() / "expected.safetensors").string());
  for (auto [dtype, tolerance] : {std::pair{Dtype::float32, 1e-5}, std::pair{Dtype::bfloat16, 2.5e-2}}) {
    auto model = lm(dtype);
    ModelOutputs out = model->forward(ModelInputs{inputs.at("input_ids")});
    ASSERT_EQ(out.at("logits").shape(), expected.at("logits").shape());
    EXPECT_LE(relative_error(out.at("logits"), expected.at("logits")), tolerance) << name(dtype);
  }
}

// Prefill in uneven chunks, then one token at a time: the cache must reproduce the full pass.
TEST_P(DecoderFixture, IncrementalDecodingMatchesFullForward) {
  TensorMap inputs = load_safetensors((kDecoders / fixture() / "inputs.safetensors").string());
  TensorMap expected = load_safetensors((kDecoders / fixture() / "expected.safetensors").string());
  Array ids = inputs.at("input_ids");
  auto lm = this->lm();
  for (std::vector<int64_t> chunks : {std::vector<int64_t>{4, 3, 1, 1, 1}, std::vector<int64_t>{1, 1, 5, 3}}) {
    KVCache cache = lm->make_cache();
    std::vector<Array> pieces;
    int64_t at = 0;
    for (int64_t n : chunks) {
      pieces.push_back(lm->forward(slice_axis(ids, 1, at, at + n), cache));
      eval(pieces.back());
      at += n;
    }
    EXPECT_EQ(cache.offset(), ids.shape(1));
    EXPECT_LE(relative_error(concatenate(pieces, 1), expected.at("logits")), 1e-5);
  }
}

// Decode steps with the position as data (CausalLM::forward_step, what a CUDA graph replays) and
// through DecodeGraph (captured and replayed on CUDA, plain forward elsewhere) reproduce the full
// pass (mixture-of-experts models on their gathered path, which stays on the device). The
// mistral fixture's 4-token sliding window rotates its cache: it takes no data positions.
TEST_P(DecoderFixture, DataPositionStepsAndDecodeGraphMatchFullForward) {
  TensorMap inputs = load_safetensors((kDecoders / fixture() / "inputs.safetensors").string());
  TensorMap expected = load_safetensors((kDecoders / fixture() / "expected.safetensors").string());
  Array ids = inputs.at("input_ids");
  int64_t prefill = 3, length = ids.shape(1);
  ASSERT_GE(length - prefill, 3) << "too short to warm up, capture and replay";
  auto lm = this->lm();
  for (bool through_graph : {false, true}) {
    KVCache cache = lm->make_cache();
    std::vector<Array> pieces{lm->forward(slice_axis(ids, 1, 0, prefill), cache)};
    eval(pieces.back());
    bool supported = lm->supports_position_data(cache, length - prefill);
    EXPECT_EQ(supported, fixture() != "mistral");
    if (!supported && !through_graph) continue;
    DecodeGraph graph(*lm, cache, length - prefill);
    for (int64_t t = prefill; t < length; ++t) {
      Array step = contiguous(slice_axis(ids, 1, t, t + 1));
      eval(step);
      Array position(std::vector<int32_t>{int32_t(t)}, {1});
      pieces.push_back(through_graph ? graph.step(step) : lm->forward_step(step, cache, position));
      eval(pieces.back());
    }
    EXPECT_EQ(cache.offset(), length);
    EXPECT_EQ(graph.replaying(), through_graph && supported && GetParam().device.type == DeviceType::cuda);
    EXPECT_LE(relative_error(concatenate(pieces, 1), expected.at("logits")), 1e-5)
        << (through_graph ? "decode graph" : "forward_step");
  }
}

TEST_P(DecoderFixture, GreedyContinuationMatchesTransformers) {
  TensorMap greedy = load_safetensors((kDecoders / fixture() / "greedy.safetensors").string());
  std::vector<int64_t> prompt = greedy.at("prompt").to_vector<int64_t>();
  std::vector<int64_t> want = greedy.at("ids").to_vector<int64_t>();
  std::vector<float> margins = greedy.at("margins").to_vector<float>();
  auto lm = this->lm();
  GenerationOptions options;
  options.max_tokens = int64_t(want.size());
  options.sampling.temperature = 0;
  options.prefill_chunk = 4;
  GenerationResult got = generate(*lm, prompt, options);
  ASSERT_EQ(got.ids.size(), want.size());
  // After a near-tie (where float rounding may pick the other token) the sequences may diverge.
  for (size_t i = 0; i < want.size() && margins[i] > 1e-3f; ++i) EXPECT_EQ(got.ids[i], want[i]) << "step " << i;
}

// Sequences of different lengths packed into one pass (prefill, then a decode step) give each
// sequence the logits it gets alone.
TEST_P(DecoderFixture, PackedSequencesMatchSeparatePasses) {
  auto lm = this->lm();
  int64_t vocab = lm->vocab_size();
  std::vector<int64_t> lengths{3, 7, 5};
  std::vector<Array> prompts, alone;
  std::vector<KVCache> own, shared;
  for (size_t i = 0; i < lengths.size(); ++i) {
    prompts.push_back(random::randint({1, lengths[i]}, 0, vocab, Dtype::int64, 11 + i));
    own.push_back(lm->make_cache());
    shared.push_back(lm->make_cache());
    alone.push_back(lm->forward(prompts[i], own.back(), true));
  }
  std::vector<KVCache*> caches;
  for (KVCache& c : shared) caches.push_back(&c);
  EXPECT_LE(relative_error(lm->forward_packed(prompts, caches), concatenate(alone, 0)), 1e-5);
  std::vector<Array> next, next_alone;
  for (size_t i = 0; i < lengths.size(); ++i) {
    next.push_back(Array(std::vector<int64_t>{int64_t(i + 1)}, {1, 1}));
    next_alone.push_back(lm->forward(next.back(), own[i], true));
  }
  EXPECT_LE(relative_error(lm->forward_packed(next, caches), concatenate(next_alone, 0)), 1e-5);
  for (size_t i = 0; i < lengths.size(); ++i) EXPECT_EQ(shared[i].offset(), lengths[i] + 1);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderFixture, ::testing::ValuesIn(decoder_params()),
                         [](const ::testing::TestParamInfo<DecoderParam>& info) {
                           return info.param.fixture + (info.param.device.type == DeviceType::cpu ? "_cpu" : "_cuda");
                         });

TEST(DecoderFixtures, CoverEveryDecoderArchitecture) {
  std::set<std::string> covered;
  for (const std::string& f : fixtures()) {
    std::ifstream in(kDecoders / f / "config.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const std::string& a : supported_architectures())
      if (text.find("\"" + a + "\"") != std::string::npos) covered.insert(a);
  }
  for (const std::string& a : supported_architectures())
    if (a.find("ForCausalLM") != std::string::npos) EXPECT_TRUE(covered.count(a)) << a;
}

// A rotating cache smaller than the sequence is a sliding window: Mistral's window (4) makes its
// cache rotate, and decoding through it must still equal the windowed full pass. A Llama cache
// capped below the sequence behaves as a window of that size, checked against a masked reference.
TEST(KVCache, RotatingCacheKeepsOnlyTheWindow) {
  auto lm = load_lm("mistral");
  KVCache cache = lm->make_cache();
  TensorMap inputs = load_safetensors((kDecoders / "mistral" / "inputs.safetensors").string());
  Array ids = inputs.at("input_ids");
  for (int64_t t = 0; t < ids.shape(1); ++t) eval(lm->forward(slice_axis(ids, 1, t, t + 1), cache));
  EXPECT_EQ(cache.layers[0].capacity(), 4);
}

TEST(KVCache, AppendWritesInPlace) {
  LayerCache cache;
  const void* first = nullptr;
  for (int step = 0; step < 4; ++step) {
    CachedKeysValues kv = cache.update(ones({1, 2, 1, 8}), ones({1, 2, 1, 8}));
    eval({kv.keys, kv.values});
    if (step == 0) first = kv.keys.buffer()->host();
    EXPECT_EQ(kv.keys.buffer()->host(), first) << "step " << step << " copied the cache";
    EXPECT_EQ(kv.keys.shape(2), step + 1);
  }
  EXPECT_EQ(cache.capacity(), 256);
}

// A Llama with real head size (64), random weights written by tessera: the quantized cache's
// incremental logits against the full pass, and its size against the plain cache's.
class QuantizedKVCache : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tessera-qkv-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "config.json") << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 128,
      "intermediate_size": 192, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 64,
      "num_hidden_layers": 2, "vocab_size": 211, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "max_position_embeddings": 256, "tie_word_embeddings": false})";
    write_random_checkpoint(dir_.string(), 7);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  std::unique_ptr<CausalLM> lm() {
    std::unique_ptr<Model> m = load_model(dir_.string(), {Device::cpu(), Dtype::float32});
    return std::unique_ptr<CausalLM>(dynamic_cast<CausalLM*>(m.release()));
  }
  // Feeds ids [1,S] as a 6-token prefill then one token at a time; logits [1,S,V].
  static Array incremental(CausalLM& model, const Array& ids, KVCache& cache) {
    std::vector<Array> pieces{model.forward(slice_axis(ids, 1, 0, 6), cache)};
    for (int64_t t = 6; t < ids.shape(1); ++t) pieces.push_back(model.forward(slice_axis(ids, 1, t, t + 1), cache));
    Array all = concatenate(pieces, 1);
    eval(all);
    return all;
  }
  static fs::path dir_;
};
fs::path QuantizedKVCache::dir_;

TEST_F(QuantizedKVCache, IncrementalLogitsFollowTheFullPass) {
  auto model = lm();
  Array ids = random::randint({1, 40}, 0, 211, Dtype::int64, 3);
  Array full = model->forward(ModelInputs{ids}).at("logits");
  KVCache plain = model->make_cache();
  EXPECT_LE(relative_error(incremental(*model, ids, plain), full), 1e-5);
  // Measured 1.3e-4 (8-bit) and 2.6e-3 (4-bit) on this model; bounds with margin.
  for (auto [bits, bound] : {std::pair{8, 1e-3}, std::pair{4, 2e-2}}) {
    KVCache cache = model->make_cache({std::nullopt, KVQuantization{bits, 64}});
    double err = relative_error(incremental(*model, ids, cache), full);
    EXPECT_GT(err, 0.0) << bits << "-bit: the cache was not quantized";
    EXPECT_LE(err, bound) << bits << "-bit";
    // float32 keys/values: 8 bits + two float32 parameters per 64 values.
    double ratio = double(cache.nbytes()) / double(plain.nbytes());
    EXPECT_NEAR(ratio, (bits + 64.0 / 64) / 32, 1e-9) << bits << "-bit";
  }
}

// A quantized cache written at data positions (what a replayed decode step does) holds the same
// codes as one written at host offsets: the logits agree to float rounding.
TEST_F(QuantizedKVCache, DataPositionStepsMatchHostOffsetSteps) {
  auto model = lm();
  Array ids = random::randint({1, 20}, 0, 211, Dtype::int64, 9);
  for (int bits : {8, 4}) {
    KVCache by_offset = model->make_cache({std::nullopt, KVQuantization{bits, 64}});
    KVCache by_data = model->make_cache({std::nullopt, KVQuantization{bits, 64}});
    std::vector<Array> want{model->forward(slice_axis(ids, 1, 0, 6), by_offset)};
    std::vector<Array> got{model->forward(slice_axis(ids, 1, 0, 6), by_data)};
    ASSERT_TRUE(model->supports_position_data(by_data, 14));
    for (int64_t t = 6; t < 20; ++t) {
      Array step = contiguous(slice_axis(ids, 1, t, t + 1));
      eval(step);
      want.push_back(model->forward(step, by_offset, true));
      got.push_back(model->forward_step(step, by_data, Array(std::vector<int32_t>{int32_t(t)}, {1})));
    }
    Array w = concatenate(want, 1), g = concatenate(got, 1);
    eval({w, g});
    EXPECT_LE(relative_error(g, w), 1e-5) << bits << "-bit";
  }
}

TEST_F(QuantizedKVCache, RotatingQuantizedCacheMatchesRotatingPlainCache) {
  auto model = lm();
  Array ids = random::randint({1, 30}, 0, 211, Dtype::int64, 5);
  KVCache plain = model->make_cache({int64_t(8)});
  KVCache quantized = model->make_cache({int64_t(8), KVQuantization{8, 64}});
  Array want = incremental(*model, ids, plain), got = incremental(*model, ids, quantized);
  EXPECT_EQ(quantized.layers[0].capacity(), 8);
  EXPECT_LE(relative_error(got, want), 1e-3);  // measured 1.7e-4
}

TEST(KVCacheErrors, QuantizedCacheNeedsGroupsThatDivideTheHeadSize) {
  auto lm = load_lm("llama");  // head_dim 8
  KVCache cache = lm->make_cache({std::nullopt, KVQuantization{8, 64}});
  Array ids = Array(std::vector<int64_t>{1, 2, 3}, {1, 3});
  try {
    eval(lm->forward(ids, cache));
    FAIL() << "an 8-bit cache with groups of 64 accepted head_dim 8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("groups of 64"), std::string::npos) << e.what();
  }
}

TEST(Sampling, SeedReproducesAndTemperatureZeroIsGreedy) {
  auto lm = load_lm("llama");
  std::vector<int64_t> prompt = {5, 17, 42, 9};
  GenerationOptions options;
  options.max_tokens = 10;
  options.sampling = {.temperature = 1.5f, .top_k = 50, .top_p = 0.95f, .min_p = 0.01f,
                      .repetition_penalty = 1.1f, .seed = 7};
  GenerationResult a = generate(*lm, prompt, options), b = generate(*lm, prompt, options);
  EXPECT_EQ(a.ids, b.ids);
  options.sampling.seed = 8;
  EXPECT_NE(generate(*lm, prompt, options).ids, a.ids);
  options.sampling = {.temperature = 0};
  GenerationResult greedy = generate(*lm, prompt, options);
  options.sampling = {.temperature = 1.0f, .top_k = 1, .seed = 3};
  EXPECT_EQ(generate(*lm, prompt, options).ids, greedy.ids);
}

// Prompts generated together (packed, finishing at different times) give what each gives alone.
TEST(BatchedGeneration, EqualsOnePromptAtATime) {
  auto lm = load_lm("qwen3_moe");
  GenerationOptions options;
  options.max_tokens = 6;
  options.sampling.temperature = 0.8f;
  options.sampling.seed = 5;
  options.prefill_chunk = 4;
  std::vector<std::vector<int64_t>> prompts{{5, 9, 2}, {17, 4, 8, 30, 1, 2, 99, 3, 7}, {12}};
  // A stop token (the third that prompt 0 draws) ends that sequence early, the others go on.
  std::vector<GenerationResult> free_run = generate(*lm, prompts, options);
  ASSERT_EQ(free_run[0].ids.size(), 6u);
  options.stop_ids = {free_run[0].ids[2]};
  std::vector<GenerationResult> together = generate(*lm, prompts, options);
  ASSERT_EQ(together.size(), prompts.size());
  EXPECT_EQ(together[0].finish_reason, "stop");
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationOptions alone = options;
    alone.sampling.seed = options.sampling.seed + i;
    GenerationResult want = generate(*lm, prompts[i], alone);
    EXPECT_EQ(together[i].ids, want.ids) << "prompt " << i;
    EXPECT_EQ(together[i].finish_reason, want.finish_reason) << "prompt " << i;
  }
}

TEST(Sampling, StopTokensEndGeneration) {
  auto lm = load_lm("llama");
  GenerationOptions options;
  options.max_tokens = 12;
  options.sampling.temperature = 0;
  GenerationResult all = generate(*lm, {5, 17, 42}, options);
  options.stop_ids = {all.ids[3]};
  GenerationResult stopped = generate(*lm, {5, 17, 42}, options);
  size_t first = size_t(std::find(all.ids.begin(), all.ids.end(), all.ids[3]) - all.ids.begin());
  EXPECT_EQ(stopped.ids, std::vector<int64_t>(all.ids.begin(), all.ids.begin() + long(first)));
  EXPECT_EQ(stopped.finish_reason, "stop");
}

}  // namespace
}  // namespace tessera
