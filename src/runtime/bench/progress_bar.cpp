#include "runtime/bench/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace tessera::bench {

ProgressBar::ProgressBar(size_t total) : total_(total), interactive_(isatty(STDERR_FILENO)) {}

ProgressBar::~ProgressBar() {
  if (interactive_ && done_ > 0) std::fprintf(stderr, "\r\033[K");
}

void ProgressBar::start(const std::string& label) {
  constexpr size_t kWidth = 30;
  size_t filled = total_ ? kWidth * done_ / total_ : kWidth;
  ++done_;
  std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  if (interactive_)
    std::fprintf(stderr, "\r\033[K[%s] %zu/%zu %s", bar.c_str(), done_, total_, label.c_str());
  else
    std::fprintf(stderr, "[%s] %zu/%zu %s\n", bar.c_str(), done_, total_, label.c_str());
  std::fflush(stderr);
}

}  // namespace tessera::bench
