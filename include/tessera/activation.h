#pragma once
// Activations a Linear layer can apply to its result inside the GEMM's epilogue (ops.h: linear).

namespace tessera {

enum class Activation { none, gelu, gelu_tanh, relu, silu, tanh };

}  // namespace tessera
