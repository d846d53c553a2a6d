#include "tessera/dtype.h"

#include <array>

namespace tessera {

namespace {
struct DtypeInfo {
  std::string_view name;
  size_t size;
};
constexpr std::array<DtypeInfo, 9> kInfo = {{{"float32", 4},
                                             {"float16", 2},
                                             {"bfloat16", 2},
                                             {"int8", 1},
                                             {"uint8", 1},
                                             {"int32", 4},
                                             {"int64", 8},
                                             {"uint32", 4},
                                             {"bool", 1}}};
}  // namespace

size_t itemsize(Dtype dtype) { return kInfo[size_t(dtype)].size; }
std::string_view name(Dtype dtype) { return kInfo[size_t(dtype)].name; }

std::optional<Dtype> dtype_from_name(std::string_view s) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].name == s) return Dtype(i);
  return std::nullopt;
}

bool is_floating(Dtype d) {
  return d == Dtype::float32 || d == Dtype::float16 || d == Dtype::bfloat16;
}

bool is_signed_integer(Dtype d) {
  return d == Dtype::int8 || d == Dtype::int32 || d == Dtype::int64;
}

Dtype promote(Dtype a, Dtype b) {
  if (a == b) return a;
  if (is_floating(a) || is_floating(b)) {
    if (!is_floating(a)) return b;
    if (!is_floating(b)) return a;
    return Dtype::float32;  // float16 with bfloat16, or either with float32
  }
  if (a == Dtype::bool_) return b;
  if (b == Dtype::bool_) return a;
  // Integers: the wider; mixed signedness goes signed and one size up, as numpy.
  auto rank = [](Dtype d) { return itemsize(d); };
  bool sa = is_signed_integer(a), sb = is_signed_integer(b);
  if (sa == sb) return rank(a) >= rank(b) ? a : b;
  size_t width = std::max(rank(a), rank(b));
  size_t unsigned_width = sa ? rank(b) : rank(a);
  size_t signed_width = sa ? rank(a) : rank(b);
  if (signed_width > unsigned_width) return sa ? a : b;
  return width >= 4 ? Dtype::int64 : Dtype::int32;
}

}  // namespace tessera
