#include "runtime/bench/resource_paths.h"

#include <cstdlib>
#include <vector>

#include "tessera/error.h"

namespace tessera::bench {

namespace fs = std::filesystem;

std::filesystem::path find_resource(const std::string& relative) {
  std::vector<fs::path> roots;
  if (const char* home = std::getenv("TESSERA_HOME")) roots.emplace_back(home);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path dir = exe.parent_path(); !ec && !dir.empty() && roots.size() < 5; dir = dir.parent_path()) {
    roots.push_back(dir);
    if (dir == dir.root_path()) break;
  }
  roots.push_back(fs::current_path());
  std::string tried;
  for (const fs::path& root : roots) {
    if (fs::exists(root / relative)) return root / relative;
    tried += (tried.empty() ? "" : ", ") + (root / relative).string();
  }
  fail("bench", "cannot find " + relative + " (tried " + tried + "; set TESSERA_HOME to the tessera source tree)");
}

std::filesystem::path default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "tessera" / "bench";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "tessera" / "bench";
  return fs::current_path() / "build" / "bench-cache";
}

}  // namespace tessera::bench
