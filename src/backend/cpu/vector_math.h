#pragma once
// Branch-free float32 exp, erf and tanh written so that loops over them auto-vectorise (no
// libm calls, selects instead of branches). Accuracy: exp ~2 ulp, erf < 4e-7 absolute and
// relative, tanh < 2e-6 relative: inside the 1e-5 float32 tolerance with margin.
#include <cstdint>
#include <cstring>

namespace tessera::cpu::vmath {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// exp(x) = 2^n * exp(r), x = n ln2 + r, |r| <= ln2/2; exp(r) by its degree-7 Taylor polynomial.
// Below -87.3 the result is exactly 0, not the smallest normal: softmax divides it further into
// denormals, and a masked attention row full of denormal weights made the P.V product ~30x slower
// (denormal arithmetic) while giving masked keys weight they must not have.
inline float exp(float x) {
  const bool underflows = x < -87.3f;
  x = underflows ? -87.3f : (x > 88.7f ? 88.7f : x);
  // Round to nearest by the 1.5*2^23 trick: plain float arithmetic, so it vectorises anywhere.
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;  // ln2 split in two for an exact reduction
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  uint32_t scale = uint32_t(int32_t(n) + 127) << 23;
  return underflows ? 0.0f : p * bits_to_float(scale);
}

// erf: Taylor series near 0 (keeps the relative error small for tiny x); elsewhere
// 1 - t*exp(-x^2 + P(t)) with t = 1/(1 + |x|/2) (Numerical Recipes' erfc Chebyshev form).
inline float erf(float x) {
  float a = x < 0 ? -x : x;
  float x2 = x * x;
  // |x| < 0.5: 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320)
  float s = -1.0f / 1320.0f;
  s = s * x2 + 1.0f / 216.0f;
  s = s * x2 - 1.0f / 42.0f;
  s = s * x2 + 1.0f / 10.0f;
  s = s * x2 - 1.0f / 3.0f;
  s = s * x2 + 1.0f;
  float small = 1.12837916709551257f * x * s;
  float t = 1.0f / (1.0f + 0.5f * a);
  float q = 0.17087277f;
  q = q * t - 0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t - 1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t - 0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t - 1.26551223f;
  float large = 1.0f - t * exp(-x2 + q);
  large = x < 0 ? -large : large;
  return a < 0.5f ? small : large;
}

// tanh = 1 - 2/(exp(2x)+1), odd Taylor polynomial near 0 where that form cancels.
inline float tanh(float x) {
  float a = x < 0 ? -x : x;
  float e = exp(2.0f * a);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0 ? -big : big;
  float x2 = x * x;
  float p = 62.0f / 2835.0f;  // x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835
  p = p * x2 - 17.0f / 315.0f;
  p = p * x2 + 2.0f / 15.0f;
  p = p * x2 - 1.0f / 3.0f;
  p = p * x2 + 1.0f;
  return a < 0.125f ? x * p : big;
}

}  // namespace tessera::cpu::vmath
