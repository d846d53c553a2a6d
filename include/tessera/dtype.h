#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "tessera/half.h"

namespace tessera {

enum class Dtype : uint8_t { float32, float16, bfloat16, int8, uint8, int32, int64, uint32, bool_ };

size_t itemsize(Dtype dtype);
std::string_view name(Dtype dtype);                       // "float32", "bool", ...
std::optional<Dtype> dtype_from_name(std::string_view s);  // inverse of name()
bool is_floating(Dtype dtype);
bool is_signed_integer(Dtype dtype);
// The dtype a binary op between a and b computes in (floats win; wider wins; as numpy/MLX).
Dtype promote(Dtype a, Dtype b);

// C++ storage type of each dtype, for kernels.
template <Dtype D> struct storage;
template <> struct storage<Dtype::float32> { using type = float; };
template <> struct storage<Dtype::float16> { using type = float16; };
template <> struct storage<Dtype::bfloat16> { using type = bfloat16; };
template <> struct storage<Dtype::int8> { using type = int8_t; };
template <> struct storage<Dtype::uint8> { using type = uint8_t; };
template <> struct storage<Dtype::int32> { using type = int32_t; };
template <> struct storage<Dtype::int64> { using type = int64_t; };
template <> struct storage<Dtype::uint32> { using type = uint32_t; };
template <> struct storage<Dtype::bool_> { using type = bool; };

template <typename T> constexpr Dtype dtype_of();
template <> constexpr Dtype dtype_of<float>() { return Dtype::float32; }
template <> constexpr Dtype dtype_of<float16>() { return Dtype::float16; }
template <> constexpr Dtype dtype_of<bfloat16>() { return Dtype::bfloat16; }
template <> constexpr Dtype dtype_of<int8_t>() { return Dtype::int8; }
template <> constexpr Dtype dtype_of<uint8_t>() { return Dtype::uint8; }
template <> constexpr Dtype dtype_of<int32_t>() { return Dtype::int32; }
template <> constexpr Dtype dtype_of<int64_t>() { return Dtype::int64; }
template <> constexpr Dtype dtype_of<uint32_t>() { return Dtype::uint32; }
template <> constexpr Dtype dtype_of<bool>() { return Dtype::bool_; }

// Calls f(T{}) with T the storage type of `dtype`; the single place a runtime dtype becomes a type.
template <typename F>
decltype(auto) dispatch_dtype(Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::float32: return f(float{});
    case Dtype::float16: return f(float16{});
    case Dtype::bfloat16: return f(bfloat16{});
    case Dtype::int8: return f(int8_t{});
    case Dtype::uint8: return f(uint8_t{});
    case Dtype::int32: return f(int32_t{});
    case Dtype::int64: return f(int64_t{});
    case Dtype::uint32: return f(uint32_t{});
    case Dtype::bool_: return f(bool{});
  }
  return f(float{});
}

// Value conversions through float/double for the 16-bit types.
template <typename T> inline double to_double(T v) { return double(v); }
template <> inline double to_double(float16 v) { return to_float(v); }
template <> inline double to_double(bfloat16 v) { return to_float(v); }
template <typename T> inline T from_double(double v) { return T(v); }
template <> inline float16 from_double(double v) { return to_float16(float(v)); }
template <> inline bfloat16 from_double(double v) { return to_bfloat16(float(v)); }
template <> inline bool from_double(double v) { return v != 0.0; }

}  // namespace tessera
