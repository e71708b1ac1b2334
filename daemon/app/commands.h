// The subcommands of the metad binary and what they share.
#ifndef METAD_DAEMON_APP_COMMANDS_H_
#define METAD_DAEMON_APP_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/app/flags.h"

namespace metad::daemon {

// `metad serve ...`; returns the process exit code.
int RunServe(int argc, char** argv);
// `metad migrate up|down [N]|status ...`.
int RunMigrate(int argc, char** argv);

// --database, --database_password_file and --log_level, for every command.
std::vector<FlagSpec> CommonFlags();

// The database URL from the flags. A password file's content (first line)
// is handed to libpq through PGPASSWORD in this process only, so no password
// appears on a command line or in a log. INVALID_ARGUMENT when no URL is set
// or the file cannot be read.
absl::StatusOr<std::string> DatabaseUrlFromFlags(const FlagSet& flags);

// Applies --log_level.
absl::Status ApplyLogLevel(const FlagSet& flags);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_APP_COMMANDS_H_
