// The `tessera` command: dispatches to one function per subcommand (src/cli/cmd_*.cpp).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "tessera/device.h"
#include "tessera/error.h"
#include "tessera/threading.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"selfcheck", tessera::cli::cmd_selfcheck, "run every op on every backend against a float64 reference"},
    {"tokenize", tessera::cli::cmd_tokenize, "tokenize JSON lines with a tokenizer.json"},
    {"forward", tessera::cli::cmd_forward, "run a model's forward pass: safetensors in, safetensors out"},
    {"embed", tessera::cli::cmd_embed, "sentence embeddings, JSON lines out"},
    {"generate", tessera::cli::cmd_generate, "generate text with a causal LM, streamed as it is produced"},
    {"bench", tessera::cli::cmd_bench, "latency suite: models x batch x sequence x device x dtype, with peers"},
    {"convert", tessera::cli::cmd_convert, "rewrite a model in another dtype or quantized (MLX format)"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: tessera <command> [args]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  tessera::choose_openmp_waits(argv);  // the bench binaries do the same
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("tessera %s (cuda: %s)\n", TESSERA_VERSION, tessera::cuda_available() ? "available" : "unavailable");
    return 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const tessera::Error& e) {
      std::fprintf(stderr, "tessera %s: error: %s\n", c.name, e.what());
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "tessera %s: error: out of memory\n", c.name);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tessera %s: error: %s\n", c.name, e.what());
    }
    return 1;
  }
  std::fprintf(stderr, "tessera: unknown command '%s' (try tessera --help)\n", argv[1]);
  return 2;
}
