#include "runtime/bench/result_merge.h"

namespace tessera::bench {

std::vector<BenchResult> merge_results(const std::vector<BenchResult>& tessera,
                                       const std::vector<BenchResult>& peers) {
  std::vector<BenchResult> merged;
  std::vector<bool> placed(peers.size(), false);
  for (const BenchResult& own : tessera) {
    merged.push_back(own);
    for (size_t i = 0; i < peers.size(); ++i) {
      if (placed[i] || !(peers[i].config == own.config)) continue;
      BenchResult peer = peers[i];
      if (peer.ok() && own.ok() && own.latency->median_ms > 0)
        peer.ratio_vs_tessera = peer.latency->median_ms / own.latency->median_ms;
      merged.push_back(std::move(peer));
      placed[i] = true;
    }
  }
  // Cases tessera did not run (a peer measured more than asked) still appear, without a ratio.
  for (size_t i = 0; i < peers.size(); ++i)
    if (!placed[i]) merged.push_back(peers[i]);
  return merged;
}

}  // namespace tessera::bench
