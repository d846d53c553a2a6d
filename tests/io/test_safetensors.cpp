// save_safetensors -> load_safetensors round trips, zero-copy mapping, metadata, sharded indexes.
#include <gtest/gtest.h>

#include "io_test_util.h"
#include "tessera/checkpoint.h"
#include "tessera/safetensors.h"

namespace tessera::io_test {
namespace {

Array random_array(Dtype dtype, const Shape& shape, uint64_t seed) {
  if (is_floating(dtype)) return random::normal(shape, dtype, seed);
  if (dtype == Dtype::bool_) return greater(random::normal(shape, Dtype::float32, seed), zeros({}));
  int64_t low = dtype == Dtype::uint8 || dtype == Dtype::uint32 ? 0 : -100;
  return random::randint(shape, low, 100, dtype, seed);
}

const std::vector<Dtype> kAllDtypes = {Dtype::float32, Dtype::float16, Dtype::bfloat16,
                                       Dtype::int8,    Dtype::uint8,   Dtype::int32,
                                       Dtype::int64,   Dtype::uint32,  Dtype::bool_};

TEST(Safetensors, RoundTripsEveryDtypeWithoutCopying) {
  TempDir dir;
  TensorMap saved;
  uint64_t seed = 1;
  for (Dtype dtype : kAllDtypes)
    saved["t_" + std::string(name(dtype))] = random_array(dtype, {3, 5}, seed++);
  saved["scalar"] = Array::scalar(2.5, Dtype::float32);
  saved["empty"] = zeros({0, 4}, Dtype::float16);
  save_safetensors(dir / "m.safetensors", saved);

  TensorMap loaded = load_safetensors(dir / "m.safetensors");
  ASSERT_EQ(loaded.size(), saved.size());
  for (const auto& [tensor, original] : saved) {
    SCOPED_TRACE(tensor);
    const Array& a = loaded.at(tensor);
    EXPECT_EQ(a.dtype(), original.dtype());
    EXPECT_EQ(a.shape(), original.shape());
    EXPECT_EQ(bytes_of(a), bytes_of(original));
    if (a.size() > 0) EXPECT_TRUE(a.buffer()->read_only()) << "not a view of the mapped file";
  }
}

TEST(Safetensors, SavesViewsAndLazyArraysAsTheirValues) {
  TempDir dir;
  Array base = random::normal({4, 6}, Dtype::float32, 7);
  TensorMap saved = {{"transposed", transpose(base)},
                     {"sliced", slice(base, {1, 2}, {3, 6})},
                     {"computed", add(base, 1.0)}};
  save_safetensors(dir / "v.safetensors", saved);
  TensorMap loaded = load_safetensors(dir / "v.safetensors");
  for (const auto& [tensor, original] : saved) {
    SCOPED_TRACE(tensor);
    EXPECT_EQ(loaded.at(tensor).shape(), original.shape());
    EXPECT_EQ(bytes_of(loaded.at(tensor)), bytes_of(original));
  }
}

TEST(Safetensors, KeepsMetadata) {
  TempDir dir;
  SafetensorsMetadata metadata = {{"format", "pt"}, {"note", "ünïcode \"quoted\""}};
  save_safetensors(dir / "m.safetensors", {{"w", ones({2})}}, metadata);
  SafetensorsFile file(dir / "m.safetensors");
  EXPECT_EQ(file.metadata(), metadata);
  EXPECT_EQ(file.tensors().size(), 1u);
}

TEST(Safetensors, WritesTheReferenceLayout) {
  // Header padded with spaces to 8 bytes; wider dtypes first so every tensor is aligned.
  TempDir dir;
  save_safetensors(dir / "l.safetensors",
                   {{"a_byte", zeros({3}, Dtype::uint8)}, {"b_float", zeros({2})}});
  std::string bytes = read_text_file(dir / "l.safetensors");
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  const std::string expected_json =
      R"({"b_float":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("a_byte":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  ASSERT_EQ(header_length, (expected_json.size() + 7) / 8 * 8);
  EXPECT_EQ(bytes.substr(8, header_length),
            expected_json + std::string(header_length - expected_json.size(), ' '));
  EXPECT_EQ(bytes.size(), 8 + header_length + 11);
}

TEST(Safetensors, SaveIsAtomic) {
  TempDir dir;
  save_safetensors(dir / "keep.safetensors", {{"w", ones({2})}});
  // An unwritable destination fails cleanly and leaves no temporary file behind.
  expect_error(
      [&] {
        save_safetensors(dir / "missing_dir/x.safetensors", {{"w", ones({2})}});
      },
      {"[safetensors]", "missing_dir/x.safetensors"});
  // A tensor that cannot be saved (an empty handle) fails before the old file is touched.
  expect_error(
      [&] {
        save_safetensors(dir / "keep.safetensors", {{"w", zeros({3})}, {"bad", Array()}});
      },
      {"'bad'"});
  EXPECT_EQ(load_safetensors(dir / "keep.safetensors").at("w").shape(), Shape{2});
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path()))
    ++files;
  EXPECT_EQ(files, 1u);
}

TEST(Safetensors, MappedTensorsOutliveTheFileObject) {
  TempDir dir;
  save_safetensors(dir / "m.safetensors", {{"w", arange(0, 6, Dtype::int32)}});
  Array w;
  { w = SafetensorsFile(dir / "m.safetensors").tensors().at("w"); }
  std::filesystem::remove(dir / "m.safetensors");  // the mapping stays valid
  EXPECT_EQ(w.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
}

TEST(Safetensors, CopiesAMisalignedTensorInsteadOfMappingIt) {
  // A one-byte tensor first puts the float32 tensor at an odd offset.
  TempDir dir;
  std::string header =
      R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);
  float values[2] = {1.5f, -2.0f};
  file += header + std::string(1, '\x07') + std::string(reinterpret_cast<char*>(values), 8);
  write_file(dir / "odd.safetensors", file);
  TensorMap loaded = load_safetensors(dir / "odd.safetensors");
  EXPECT_FALSE(loaded.at("f").buffer()->read_only());
  EXPECT_EQ(loaded.at("f").to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_TRUE(loaded.at("b").buffer()->read_only());
}

TEST(Safetensors, LoadsAShardedIndex) {
  TempDir dir;
  save_safetensors(dir / "model-00001-of-00002.safetensors",
                   {{"a", ones({2})}, {"b", zeros({3}, Dtype::int64)}});
  save_safetensors(dir / "model-00002-of-00002.safetensors",
                   {{"c", full({2, 2}, 4.0, Dtype::bfloat16)}});
  write_file(
      dir / "model.safetensors.index.json",
      R"({"metadata": {"total_size": 44}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                 "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
  TensorMap loaded = load_safetensors_index(dir / "model.safetensors.index.json");
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded.at("c").dtype(), Dtype::bfloat16);
  EXPECT_EQ(loaded.at("a").to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_TRUE(loaded.at("c").buffer()->read_only());
}

TEST(Safetensors, RejectsInconsistentShardedIndexes) {
  TempDir dir;
  save_safetensors(dir / "s1.safetensors", {{"a", ones({2})}, {"b", ones({2})}});
  save_safetensors(dir / "s2.safetensors", {{"b", ones({2})}});
  write_file(dir / "missing.json",
             R"({"weight_map": {"a": "s1.safetensors", "zz": "s1.safetensors"}})");
  expect_error([&] { load_safetensors_index(dir / "missing.json"); },
               {"missing.json", "'zz'", "s1.safetensors"});
  write_file(dir / "duplicate.json",
             R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  expect_error([&] { load_safetensors_index(dir / "duplicate.json"); },
               {"'b'", "s1.safetensors", "s2.safetensors"});
  write_file(dir / "twice.json",
             R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}})");
  expect_error([&] { load_safetensors_index(dir / "twice.json"); }, {"duplicate key", "\"a\""});
  write_file(dir / "escape.json", R"({"weight_map": {"a": "../s1.safetensors"}})");
  expect_error([&] { load_safetensors_index(dir / "escape.json"); }, {"not a file name"});
  write_file(dir / "no_map.json", R"({"metadata": {}})");
  expect_error([&] { load_safetensors_index(dir / "no_map.json"); }, {"weight_map"});
  write_file(dir / "absent_shard.json", R"({"weight_map": {"a": "nope.safetensors"}})");
  expect_error([&] { load_safetensors_index(dir / "absent_shard.json"); }, {"nope.safetensors"});
}

}  // namespace
}  // namespace tessera::io_test
