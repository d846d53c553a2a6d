#pragma once
// Runs a peer engine's Python driver (bench/peers/<peer>_peer.py) on the plan file and reads the
// results it prints, one JSON line per case in the BenchResult schema. A peer that cannot run
// (no Python, package missing, crash) is reported on stderr and yields no rows: the suite's own
// results stand without it.
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/bench/bench_result.h"

namespace tessera::bench {

struct PeerSetup {
  std::string python;               // interpreter with the peers' packages
  std::filesystem::path peers_dir;  // bench/peers
  std::filesystem::path plan_path;
};

// The peers a driver exists for: torch (eager and SDPA rows), onnxruntime, mlx (bench's own
// MLX encoder), mlx-transformers.
const std::vector<std::string>& known_peers();
void check_peer_names(const std::vector<std::string>& peers);

std::vector<BenchResult> run_peer(const std::string& peer, const PeerSetup& setup);

// POSIX shell single-quoting, so paths with spaces or quotes reach the driver intact.
std::string shell_quote(const std::string& text);

}  // namespace tessera::bench
