// Every truncation and every single-byte corruption of a real checkpoint must either load or fail
// with a tessera::Error: never crash, hang or read out of bounds (the asan preset checks the
// last).
#include <gtest/gtest.h>

#include <functional>

#include "io_test_util.h"
#include "tessera/checkpoint.h"
#include "tessera/pytorch_bin.h"
#include "tessera/safetensors.h"

namespace tessera::io_test {
namespace {

using Loader = std::function<void(const std::string&)>;

// Loads each variant; returns how many failed (with a tessera::Error; anything else escapes).
size_t load_each(const std::vector<std::string>& variants, const Loader& load, const TempDir& dir) {
  size_t failures = 0;
  const std::string path = dir / "variant";
  for (const std::string& bytes : variants) {
    write_file(path, bytes);
    try {
      load(path);
    } catch (const Error&) {
      ++failures;
    }
  }
  return failures;
}

std::vector<std::string> truncations(const std::string& original) {
  std::vector<std::string> out;
  for (size_t length = 0; length < original.size(); ++length)
    out.push_back(original.substr(0, length));
  return out;
}

std::vector<std::string> byte_flips(const std::string& original) {
  std::vector<std::string> out;
  for (size_t i = 0; i < original.size(); ++i) {
    out.push_back(original);
    out.back()[i] = char(~original[i]);
  }
  return out;
}

const Loader kLoadBin = [](const std::string& p) { load_pytorch_bin(p); };
const Loader kLoadSafetensors = [](const std::string& p) {
  for (const auto& [name, array] : load_safetensors(p)) bytes_of(array);  // touch every byte
};

TEST(CorruptedPytorchBin, EveryTruncationFailsCleanly) {
  TempDir dir;
  auto variants = truncations(read_text_file(fixture("state_dict.bin")));
  EXPECT_EQ(load_each(variants, kLoadBin, dir), variants.size());
}

TEST(CorruptedPytorchBin, EveryByteFlipLoadsOrFailsCleanly) {
  TempDir dir;
  load_each(byte_flips(read_text_file(fixture("state_dict.bin"))), kLoadBin, dir);
}

TEST(CorruptedSafetensors, EveryTruncationFailsCleanly) {
  TempDir dir;
  auto variants = truncations(read_text_file(fixture("expected.safetensors")));
  EXPECT_EQ(load_each(variants, kLoadSafetensors, dir), variants.size());
}

TEST(CorruptedSafetensors, EveryByteFlipLoadsOrFailsCleanly) {
  TempDir dir;
  load_each(byte_flips(read_text_file(fixture("expected.safetensors"))), kLoadSafetensors, dir);
}

}  // namespace
}  // namespace tessera::io_test
