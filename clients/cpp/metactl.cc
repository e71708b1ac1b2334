// metactl: metad from a shell. See cli.h for the exit codes and
// `metactl --help` for the commands.
#include <iostream>
#include <string>
#include <vector>

#include "clients/cpp/cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  return metad::metactl::RunMetactl(args, std::cin, std::cout, std::cerr);
}
