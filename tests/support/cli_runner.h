#pragma once
// Runs the `tessera` binary in a scratch directory and captures exit code, stdout and stderr:
// the command-line contract is tested as a user meets it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tessera::testing_support {

struct CommandResult {
  int exit_code;
  std::string out, err;
  // Errors are exactly one line on stderr.
  bool one_error_line() const {
    return !err.empty() && err.find('\n') == err.size() - 1;
  }
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream contents;
  contents << stream.rdbuf();
  return contents.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tessera_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `args` is passed through the shell as written (quote paths yourself).
  CommandResult run(const std::string& args, const std::string& stdin_bytes = "") {
    std::ofstream(dir_ / "stdin", std::ios::binary) << stdin_bytes;
    std::string command = std::string(TESSERA_BINARY) + " " + args + " < '" + (dir_ / "stdin").string() +
                          "' > '" + (dir_ / "stdout").string() + "' 2> '" + (dir_ / "stderr").string() + "'";
    int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(dir_ / "stdout"),
            read_file(dir_ / "stderr")};
  }

  std::filesystem::path dir_;
};

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace tessera::testing_support
