#pragma once
// Calibrated quantization into MLX's affine format (w ~ scale * q + bias per group): the same
// packed words, scales and biases MLX loads, chosen to keep each Linear's *outputs* close on
// calibration inputs rather than its weights close (round-to-nearest, `quantize` in ops.h).
//
// The objective is tr((W - Q) H (W - Q)^T) with H = E[x x^T] over the layer's calibration
// inputs. Columns are quantized in order and each one's rounding error is spread over the
// columns not yet quantized through H's inverse (optimal brain surgeon updates, as in GPTQ);
// each group's scale and bias are searched (clipped ranges, then least squares) on the
// H-diagonal-weighted error of the already-updated weights, starting from MLX's own choice.
#include <vector>

#include "tessera/model.h"
#include "tessera/ops.h"

namespace tessera {

// w [out, in] float (in a multiple of spec.group_size); gram [in * in] row-major, symmetric
// positive semi-definite (the input second moment). Scales and biases take w's dtype.
QuantizedArrays calibrated_quantize(const Array& w, const std::vector<double>& gram,
                                    const QuantizationSpec& spec);

// tr((W - dequantize(q)) H (W - dequantize(q))^T): the objective calibrated_quantize lowers.
double calibration_error(const Array& w, const QuantizedArrays& q, const std::vector<double>& gram,
                         const QuantizationSpec& spec);

}  // namespace tessera
