// `metad migrate up [N] | down [N] | status`.
#include <cstdio>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "daemon/app/commands.h"
#include "store/migrator.h"

namespace metad::daemon {
namespace {

constexpr const char* kMigrateHelp =
    "usage: metad migrate up [N] | down [N] | status [flags]\n"
    "  up [N]    apply all pending migrations (or the next N)\n"
    "  down [N]  revert the N latest applied migrations (default 1)\n"
    "  status    list every migration: applied, pending, changed, unknown,\n"
    "            or ahead (unknown but expand-only: this metad still serves)\n"
    "Runs under an advisory lock; use a role that owns the schema.\n\n"
    "flags:\n";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "metad migrate: %s\n",
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunMigrate(int argc, char** argv) {
  FlagSet flags(CommonFlags());
  std::vector<std::string> args;
  if (absl::Status s = flags.Parse(argc, argv, 2, &args); !s.ok())
    return Fail(s);
  if (flags.help_requested()) {
    std::cout << kMigrateHelp << flags.Help();
    return 0;
  }
  if (absl::Status s = ApplyLogLevel(flags); !s.ok()) return Fail(s);
  if (args.empty() || args.size() > 2 ||
      (args[0] != "up" && args[0] != "down" && args[0] != "status") ||
      (args[0] == "status" && args.size() != 1)) {
    std::fputs(kMigrateHelp, stderr);
    return 2;
  }
  int steps = args[0] == "down" ? 1 : -1;
  if (args.size() == 2 && (!absl::SimpleAtoi(args[1], &steps) || steps < 1)) {
    return Fail(absl::InvalidArgumentError("N must be a positive integer"));
  }
  absl::StatusOr<std::string> url = DatabaseUrlFromFlags(flags);
  if (!url.ok()) return Fail(url.status());
  auto migrations = store::EmbeddedMigrations();
  if (!migrations.ok()) return Fail(migrations.status());
  store::Migrator migrator(*url, *migrations, store::EmbeddedDefinitions());

  if (args[0] == "up") {
    if (absl::Status s = migrator.Up(steps); !s.ok()) return Fail(s);
  } else if (args[0] == "down") {
    if (absl::Status s = migrator.Down(steps); !s.ok()) return Fail(s);
  }
  auto states = migrator.Status();
  if (!states.ok()) return Fail(states.status());
  std::printf("%-8s %-24s %-10s %s\n", "VERSION", "NAME", "STATE",
              "APPLIED AT");
  for (const store::MigrationState& m : *states) {
    // "ahead": unknown here but expand-only, so this release still serves.
    const char* state = !m.known     ? (m.expand_only ? "ahead" : "unknown")
                        : !m.applied ? "pending"
                        : !m.checksum_matches ? "changed"
                                              : "applied";
    std::printf("%-8d %-24s %-10s %s\n", m.version, m.name.c_str(), state,
                m.applied_at.c_str());
  }
  auto stale = migrator.StaleDefinitions();
  if (!stale.ok()) return Fail(stale.status());
  std::printf(
      "functions (migrations/functions): %s\n",
      stale->empty()
          ? "current"
          : absl::StrCat("stale: ", absl::StrJoin(*stale, ", ")).c_str());
  return 0;
}

}  // namespace metad::daemon
