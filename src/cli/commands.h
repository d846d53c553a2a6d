#pragma once
// One function per `tessera` subcommand, each in its own cmd_<name>.cpp. argv[0] is the
// subcommand name. A command returns the process exit code; it throws tessera::Error for any
// failure and main() turns that into one line on stderr and exit code 1.
namespace tessera::cli {

int cmd_selfcheck(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_forward(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_convert(int argc, char** argv);

}  // namespace tessera::cli
