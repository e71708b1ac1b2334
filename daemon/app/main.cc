// metad: the metadata daemon. `metad serve` runs the gRPC server, `metad
// migrate` manages the schema.
#include <csignal>
#include <cstdio>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "daemon/app/commands.h"

namespace {

constexpr const char* kUsage =
    "metad - the memory of a data pipeline (files, task runs, dependencies)\n"
    "\n"
    "usage:\n"
    "  metad serve [flags]              serve the gRPC API (see serve --help)\n"
    "  metad migrate up [N] [flags]     apply pending schema migrations\n"
    "  metad migrate down [N] [flags]   revert the N latest (default 1)\n"
    "  metad migrate status [flags]     list migrations and their state\n"
    "  metad --help\n";

}  // namespace

int main(int argc, char** argv) {
  // A peer that vanished must not kill the daemon through a write.
  std::signal(SIGPIPE, SIG_IGN);
  // Debian's abseil is built without NDEBUG, so every absl::Mutex (gRPC's
  // locks too) checks for lock-order cycles in a process-wide graph under a
  // global lock: GraphCycles was metad's top symbol under RegisterFile load
  // (docs/benchmarks.md, session 9). The in-process GoogleTest suites do
  // not come through here, so they keep abseil's check (it aborts on a
  // cycle) over the same code.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "serve") == 0) {
    return metad::daemon::RunServe(argc, argv);
  }
  if (std::strcmp(argv[1], "migrate") == 0) {
    return metad::daemon::RunMigrate(argc, argv);
  }
  std::fprintf(stderr, "metad: unknown command \"%s\"\n\n%s", argv[1], kUsage);
  return 2;
}
