// pytorch_model.bin fixtures written by real torch (tests/fixtures/io/generate.py): values,
// zero-copy views, shared storage, sharding, and files that must be refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_util.h"
#include "tessera/pytorch_bin.h"
#include "tessera/safetensors.h"

namespace tessera::io_test {
namespace {

// Every tensor of `loaded` equals the one of the same name in expected.safetensors.
void expect_expected_values(const TensorMap& loaded) {
  TensorMap expected = load_safetensors(fixture("expected.safetensors"));
  ASSERT_EQ(loaded.size(), expected.size());
  for (const auto& [tensor, want] : expected) {
    SCOPED_TRACE(tensor);
    ASSERT_TRUE(loaded.count(tensor));
    const Array& got = loaded.at(tensor);
    EXPECT_EQ(got.dtype(), want.dtype());
    EXPECT_EQ(got.shape(), want.shape());
    EXPECT_EQ(bytes_of(got), bytes_of(want));
  }
}

TEST(PytorchBin, LoadsAStateDictOfEveryDtype) {
  TensorMap loaded = load_pytorch_bin(fixture("state_dict.bin"));
  expect_expected_values(loaded);
  EXPECT_EQ(loaded.at("scalar").item<float>(), 3.25f);
  EXPECT_EQ(loaded.at("ids").to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 3'000'000'000, 4}));
}

TEST(PytorchBin, TensorsAreViewsOfTheMappedArchive) {
  TensorMap loaded = load_pytorch_bin(fixture("state_dict.bin"));
  for (const auto& [tensor, array] : loaded) EXPECT_TRUE(array.buffer()->read_only()) << tensor;

  // weight.t() is a strided view of weight's storage, not a copy.
  const Array& weight = loaded.at("linear.weight");
  const Array& transposed = loaded.at("linear.weight_t");
  EXPECT_EQ(transposed.shape(), (Shape{4, 3}));
  EXPECT_EQ(transposed.strides(), (Strides{1, 4}));
  EXPECT_FALSE(transposed.is_contiguous());
  EXPECT_EQ(transposed.buffer(), weight.buffer());

  // base[2:7] shares base's storage at element offset 2.
  const Array& slice = loaded.at("base_slice");
  EXPECT_EQ(slice.buffer(), loaded.at("base").buffer());
  EXPECT_EQ(slice.offset(), 2);
  EXPECT_EQ(slice.to_vector<float>(), (std::vector<float>{1.0f, 1.5f, 2.0f, 2.5f, 3.0f}));
}

TEST(PytorchBin, InflatesDeflatedEntries) {
  TensorMap loaded = load_pytorch_bin(fixture("deflated.bin"));
  expect_expected_values(loaded);
  EXPECT_FALSE(loaded.at("linear.weight").buffer()->read_only());
  EXPECT_EQ(loaded.at("linear.weight_t").buffer(), loaded.at("linear.weight").buffer());
}

TEST(PytorchBin, CopiesOnlyMisalignedStorages) {
  // Re-zipped without torch's 64-byte padding: entries land at arbitrary offsets.
  TensorMap loaded = load_pytorch_bin(fixture("unaligned.bin"));
  expect_expected_values(loaded);
  EXPECT_TRUE(loaded.at("u8").buffer()->read_only());  // bytes are always aligned
}

TEST(PytorchBin, LoadsAShardedIndex) {
  expect_expected_values(load_pytorch_bin_index(fixture("sharded/pytorch_model.bin.index.json")));
}

// The payload of every hostile fixture runs `touch` on this file under torch.load.
const char* kPayloadMarker = "/tmp/tessera_pickle_payload_ran";

void expect_refused_without_running(const std::string& file,
                                    const std::vector<std::string>& fragments) {
  std::filesystem::remove(kPayloadMarker);
  std::vector<std::string> all = {"refusing to load", fixture(file)};
  all.insert(all.end(), fragments.begin(), fragments.end());
  expect_error([&] { load_pytorch_bin(fixture(file)); }, all);
  EXPECT_FALSE(std::filesystem::exists(kPayloadMarker)) << "the pickle payload ran";
}

TEST(PytorchBinHostile, RefusesGlobalOsSystem) {
  expect_refused_without_running("hostile_os_system.bin", {"pickle references os.system"});
}

TEST(PytorchBinHostile, RefusesAReduceExploitNextToARealTensor) {
  // os.system pickles as posix.system on Linux.
  expect_refused_without_running("hostile_reduce.bin", {"pickle references posix.system"});
}

TEST(PytorchBinHostile, RefusesTheInstOpcode) {
  expect_refused_without_running("hostile_inst.bin", {"unsupported pickle opcode 0x69"});
}

TEST(PytorchBinBroken, TruncatedArchive) {
  expect_error([] { load_pytorch_bin(fixture("truncated.bin")); },
               {"[zip]", "truncated.bin", "truncated"});
}

TEST(PytorchBinBroken, MissingStorageEntry) {
  expect_error([] { load_pytorch_bin(fixture("missing_entry.bin")); },
               {"missing_entry.bin", "missing entry state_dict/data/0"});
}

TEST(PytorchBinBroken, LegacyFormat) {
  expect_error([] { load_pytorch_bin(fixture("legacy.bin")); },
               {"legacy.bin", "unsupported legacy"});
}

TEST(PytorchBinBroken, NotAnArchive) {
  expect_error([] { load_pytorch_bin(fixture("generate.py")); },
               {"generate.py", "not a torch.save zip archive"});
}

}  // namespace
}  // namespace tessera::io_test
