// A corpus of malformed safetensors files, built here byte by byte: each must fail with a
// tessera::Error naming the file (and the tensor, where there is one), never crash. Run under the
// asan preset too, where an out-of-bounds read would abort the test.
#include <gtest/gtest.h>

#include "io_test_util.h"
#include "tessera/safetensors.h"

namespace tessera::io_test {
namespace {

std::string length_prefix(uint64_t length) {
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[size_t(i)] = char(length >> (8 * i));
  return prefix;
}

// A file whose header is `header` (padded to 8 bytes) and whose data section is `data`.
std::string safetensors_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return length_prefix(header.size()) + header + data;
}

struct MalformedCase {
  std::string name;
  std::string bytes;
  std::vector<std::string> fragments;  // the message must contain each
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

std::string tensor(const std::string& name, const std::string& dtype, const std::string& shape,
                   const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

std::vector<MalformedCase> malformed_cases() {
  const std::string data16(16, '\0');
  auto one = [&](const std::string& entry) { return safetensors_bytes("{" + entry + "}", data16); };
  return {
      {"EmptyFile", "", {"shorter than the 8-byte header length"}},
      {"ShorterThanLengthPrefix", "abc", {"3 bytes", "shorter than the 8-byte"}},
      {"HeaderLengthBeyondFile",
       length_prefix(1000) + "{}",
       {"header length 1000", "exceeds the file size"}},
      {"AbsurdHeaderLength", length_prefix(uint64_t(1) << 40) + "{}", {"absurd"}},
      {"HeaderNotJson", safetensors_bytes("{\"w\": [1, 2", ""), {"invalid JSON"}},
      {"HeaderNotObject",
       safetensors_bytes("[1, 2]", ""),
       {"header is a JSON array", "expected an object"}},
      {"EntryNotObject", one("\"w\": 5"), {"tensor 'w'", "expected an object"}},
      {"MissingDtype",
       one(R"("w":{"shape":[2],"data_offsets":[0,8]})"),
       {"tensor 'w'", "missing \"dtype\""}},
      {"MissingShape",
       one(R"("w":{"dtype":"F32","data_offsets":[0,8]})"),
       {"tensor 'w'", "missing \"shape\""}},
      {"MissingDataOffsets",
       one(R"("w":{"dtype":"F32","shape":[2]})"),
       {"tensor 'w'", "missing \"data_offsets\""}},
      {"DtypeNotString",
       one(tensor("w", "32", "[2]", "[0,8]")),
       {"tensor 'w'", "\"dtype\" is a number"}},
      {"UnknownDtype",
       one(tensor("w", "\"Q7\"", "[2]", "[0,8]")),
       {"tensor 'w'", "unknown dtype \"Q7\""}},
      {"UnsupportedDtypeF64",
       one(tensor("w", "\"F64\"", "[2]", "[0,16]")),
       {"tensor 'w'", "unsupported dtype F64"}},
      {"UnsupportedDtypeI16",
       one(tensor("w", "\"I16\"", "[2]", "[0,4]")),
       {"tensor 'w'", "unsupported dtype I16"}},
      {"ShapeNotArray",
       one(tensor("w", "\"F32\"", "2", "[0,8]")),
       {"tensor 'w'", "\"shape\" is a number"}},
      {"ShapeHoldsFloat",
       one(tensor("w", "\"F32\"", "[2.5]", "[0,8]")),
       {"tensor 'w'", "expected integers"}},
      {"ShapeHoldsString",
       one(tensor("w", "\"F32\"", "[\"2\"]", "[0,8]")),
       {"tensor 'w'", "expected integers"}},
      {"NegativeDimension",
       one(tensor("w", "\"F32\"", "[-2,1]", "[0,8]")),
       {"tensor 'w'", "dimensions >= 0"}},
      {"ShapeElementCountOverflows",
       one(tensor("w", "\"F32\"", "[4294967296,4294967296,16]", "[0,8]")),
       {"tensor 'w'", "overflows"}},
      {"ShapeByteCountOverflows",
       one(tensor("w", "\"F32\"", "[4611686018427387904]", "[0,8]")),
       {"tensor 'w'", "too large"}},
      {"DataOffsetsNotPair",
       one(tensor("w", "\"F32\"", "[2]", "[0]")),
       {"tensor 'w'", "expected [begin, end]"}},
      {"DataOffsetsNotArray",
       one(tensor("w", "\"F32\"", "[2]", "{}")),
       {"tensor 'w'", "expected [begin, end]"}},
      {"DataOffsetsNegative",
       one(tensor("w", "\"F32\"", "[2]", "[-8,0]")),
       {"tensor 'w'", "expected [begin, end]"}},
      {"DataOffsetsReversed",
       one(tensor("w", "\"F32\"", "[0]", "[8,0]")),
       {"tensor 'w'", "end before they begin"}},
      {"DataOffsetsBeyondData",
       one(tensor("w", "\"F32\"", "[1000]", "[0,4000]")),
       {"tensor 'w'", "beyond the data section of 16 bytes"}},
      {"ByteLengthMismatch",
       one(tensor("w", "\"F32\"", "[3]", "[0,8]")),
       {"tensor 'w'", "span 8 bytes", "needs 12"}},
      {"OverlappingTensors",
       one(tensor("a", "\"F32\"", "[2]", "[0,8]") + "," + tensor("b", "\"F32\"", "[2]", "[4,12]")),
       {"'a'", "'b'", "overlap"}},
      {"TensorInsideAnother",
       one(tensor("big", "\"F32\"", "[4]", "[0,16]") + "," +
           tensor("x", "\"F32\"", "[1]", "[4,8]") + "," + tensor("y", "\"F32\"", "[1]", "[8,12]")),
       {"'big'", "overlap"}},
      {"DuplicateTensorName",
       one(tensor("w", "\"F32\"", "[2]", "[0,8]") + "," + tensor("w", "\"F32\"", "[2]", "[8,16]")),
       {"duplicate key \"w\""}},
      {"MetadataNotObject", one("\"__metadata__\": [1]"), {"\"__metadata__\" is a array"}},
      {"MetadataValueNotString",
       one("\"__metadata__\": {\"k\": 1}"),
       {"__metadata__[\"k\"]", "expected a string"}},
      {"BoolHoldsOtherBytes",
       safetensors_bytes("{" + tensor("m", "\"BOOL\"", "[2]", "[0,2]") + "}", "\x01\x07"),
       {"tensor 'm'", "holds byte 7"}},
  };
}

class MalformedSafetensors : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedSafetensors, FailsWithAClearError) {
  TempDir dir;
  const MalformedCase& c = GetParam();
  const std::string path = dir / (c.name + ".safetensors");
  write_file(path, c.bytes);
  std::vector<std::string> fragments = c.fragments;
  fragments.push_back("[safetensors]");
  fragments.push_back(c.name + ".safetensors");  // every message names the file
  expect_error([&] { load_safetensors(path); }, fragments);
}

INSTANTIATE_TEST_SUITE_P(Corpus, MalformedSafetensors, ::testing::ValuesIn(malformed_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(MalformedSafetensorsFile, MissingFileNamesThePath) {
  expect_error([] { load_safetensors("/nonexistent/dir/model.safetensors"); },
               {"/nonexistent/dir/model.safetensors"});
}

}  // namespace
}  // namespace tessera::io_test
