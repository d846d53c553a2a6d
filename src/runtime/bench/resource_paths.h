#pragma once
// Where the bench finds what ships beside the binary (configs/, bench/peers/, bench/plot.py) and
// where it keeps what it generates (random checkpoints, inputs files, ONNX exports).
#include <filesystem>
#include <string>

namespace tessera::bench {

// The repository-relative path `relative` (e.g. "configs"), looked up under $TESSERA_HOME, then
// the directories above the running binary (build/<preset>/tessera lives two below the root),
// then the working directory. A tessera::Error names every place tried when none has it.
std::filesystem::path find_resource(const std::string& relative);

// $XDG_CACHE_HOME/tessera/bench, else ~/.cache/tessera/bench.
std::filesystem::path default_cache_dir();

}  // namespace tessera::bench
