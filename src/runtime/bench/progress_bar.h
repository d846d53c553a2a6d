#pragma once
// Progress of the suite on stderr: a bar redrawn in place on a terminal, one line per step
// otherwise (logs stay readable).
#include <cstddef>
#include <string>

namespace tessera::bench {

class ProgressBar {
 public:
  explicit ProgressBar(size_t total);
  ~ProgressBar();
  // Announces the step about to run.
  void start(const std::string& label);

 private:
  size_t total_, done_ = 0;
  bool interactive_;
};

}  // namespace tessera::bench
