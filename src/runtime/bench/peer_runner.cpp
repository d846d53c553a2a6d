#include "runtime/bench/peer_runner.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "tessera/error.h"

namespace tessera::bench {

const std::vector<std::string>& known_peers() {
  static const std::vector<std::string> peers = {"torch", "onnxruntime", "mlx", "mlx-transformers"};
  return peers;
}

void check_peer_names(const std::vector<std::string>& peers) {
  for (const std::string& peer : peers) {
    if (std::find(known_peers().begin(), known_peers().end(), peer) != known_peers().end()) continue;
    std::string list;
    for (const std::string& k : known_peers()) list += (list.empty() ? "" : ", ") + k;
    fail("bench", "unknown peer '" + peer + "' (known: " + list + ")");
  }
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::vector<BenchResult> run_peer(const std::string& peer, const PeerSetup& setup) {
  std::string script_name = peer + "_peer.py";
  std::replace(script_name.begin(), script_name.end(), '-', '_');
  std::filesystem::path script = setup.peers_dir / script_name;
  std::string command = shell_quote(setup.python) + " " + shell_quote(script.string()) + " --plan " +
                        shell_quote(setup.plan_path.string());
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) {
    std::fprintf(stderr, "tessera bench: warning: cannot start peer %s (%s)\n", peer.c_str(), command.c_str());
    return {};
  }
  std::vector<BenchResult> results;
  std::string line;
  for (int ch; (ch = std::fgetc(pipe.get())) != EOF;) {
    if (ch != '\n') {
      line += char(ch);
      continue;
    }
    // Only JSON objects are results; anything else a library prints to stdout is passed on.
    if (!line.empty() && line.front() == '{') {
      try {
        results.push_back(parse_result_line(line));
      } catch (const Error& e) {
        std::fprintf(stderr, "tessera bench: warning: peer %s: %s\n", peer.c_str(), e.what());
      }
    } else if (!line.empty()) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    line.clear();
  }
  int status = pclose(pipe.release());
  if (status != 0) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::fprintf(stderr, "tessera bench: warning: peer %s exited with status %d (%s)%s\n", peer.c_str(), code,
                 command.c_str(), results.empty() ? "; no results from it" : "; keeping the results it printed");
  }
  return results;
}

}  // namespace tessera::bench
