// metactl: metad from a shell. Placeholder until the CLI lands.
#include <cstdio>

int main() {
  std::fputs("metactl: not implemented yet\n", stderr);
  return 2;
}
