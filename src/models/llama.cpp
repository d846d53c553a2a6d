// Llama (1/2/3/3.1, incl. rope_scaling "llama3") and Mistral (sliding window when configured):
// the plain decoder with the standard tensor names.
#include "models/decoder.h"

namespace tessera {

std::vector<ArchitectureEntry> llama_architectures() {
  return {decoder_architecture({.architecture = "LlamaForCausalLM"}),
          decoder_architecture({.architecture = "MistralForCausalLM", .sliding_window_all_layers = true})};
}

}  // namespace tessera
