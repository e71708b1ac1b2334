// `metad serve`: parse the configuration, start the Daemon, wait for a
// signal, stop it. SIGHUP reloads tokens and checks TLS files.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "daemon/app/commands.h"
#include "daemon/app/daemon.h"
#include "daemon/app/serve_config.h"
#include "store/database.h"

namespace metad::daemon {
namespace {

constexpr const char* kServeHelp =
    "usage: metad serve [flags]\n"
    "Serves metad.v1 (FileService, TaskService, TaskLogService,\n"
    "DependencyService, WatchService), gRPC reflection and grpc.health.v1\n"
    "until SIGTERM or SIGINT, then drains calls in flight and exits 0.\n\n"
    "flags:\n";

int Fail(const std::string& what, const absl::Status& status) {
  log::Error(what, {{"error", status.message()}});
  std::fprintf(stderr, "metad serve: %s\n",
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

int RunServe(int argc, char** argv) {
  FlagSet flags(ServeFlags());
  std::vector<std::string> args;
  if (absl::Status s = flags.Parse(argc, argv, 2, &args); !s.ok()) {
    return Fail("bad_flags", s);
  }
  if (flags.help_requested()) {
    std::cout << kServeHelp << flags.Help();
    return 0;
  }
  if (!args.empty()) {
    return Fail("bad_flags", absl::InvalidArgumentError(absl::StrCat(
                                 "unexpected argument \"", args[0], "\"")));
  }
  if (!flags.Get("config").empty()) {
    if (absl::Status s = flags.LoadConfigFile(flags.Get("config")); !s.ok()) {
      return Fail("bad_config", s);
    }
  }
  if (absl::Status s = ApplyLogLevel(flags); !s.ok()) {
    return Fail("bad_flags", s);
  }
  absl::StatusOr<ServeConfig> config = ParseServeConfig(flags);
  if (!config.ok()) return Fail("bad_flags", config.status());
  auto print_config = flags.GetBool("print_config");
  if (!print_config.ok()) return Fail("bad_flags", print_config.status());
  if (*print_config) {
    // After the checks above, so a bad value fails here too; before the
    // database URL and secret files, which need not be readable to print.
    std::cout << "# metad serve: effective configuration (secrets masked)\n";
    if (!flags.Get("config").empty()) {
      std::cout << "# config file: " << flags.Get("config") << " ("
                << flags.Source("config") << ")\n";
    }
    std::cout << flags.PrintConfig();
    return 0;
  }
  if (absl::Status s = ResolveDatabaseUrls(flags, &*config); !s.ok()) {
    return Fail("bad_flags", s);
  }
  // A database that does not answer must not hang a call for minutes.
  setenv("PGCONNECT_TIMEOUT", "3", /*overwrite=*/0);

  // Signals are taken by sigwait below, never by a handler: block them
  // before any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  log::Info("starting",
            {{"listen", config->listen},
             {"database", store::RedactDatabaseUrl(config->database_url)},
             {"pool_size", config->pool_size}});
  Daemon daemon(*config);
  std::string event;
  if (absl::Status s = daemon.Start(&event); !s.ok()) return Fail(event, s);
  log::Info("serving", {{"listen", config->listen},
                        {"port", daemon.grpc_port()},
                        {"metrics_port", daemon.metrics_port()},
                        {"status_port", daemon.status_port()}});
  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    daemon.Reload();
  }
  log::Info("draining", {{"signal", signal_number}});
  daemon.Stop();
  log::Info("stopped");
  return 0;
}

std::vector<FlagSpec> CommonFlags() {
  return {
      {"database", "METAD_DATABASE_URL", "",
       "PostgreSQL URL or key=value string (no password here: use "
       "--database_password_file)",
       false, Mask::kUrl},
      {"database_password_file", "METAD_DATABASE_PASSWORD_FILE", "",
       "file whose first line is the database password"},
      {"log_level", "METAD_LOG_LEVEL", "info", "debug, info, warn or error"},
  };
}

absl::StatusOr<std::string> DatabaseUrlFromFlags(const FlagSet& flags) {
  std::string url = flags.Get("database");
  if (url.empty()) {
    return absl::InvalidArgumentError(
        "--database (or METAD_DATABASE_URL) is required, e.g. "
        "postgresql://metad@127.0.0.1:5432/metad");
  }
  std::string password_file = flags.Get("database_password_file");
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    std::string password;
    if (!in || !std::getline(in, password)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flags.Describe("database_password_file"),
                       ": cannot read ", password_file));
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
    setenv("PGPASSWORD", password.c_str(), /*overwrite=*/1);
  }
  return url;
}

absl::Status ApplyLogLevel(const FlagSet& flags) {
  log::Level level;
  if (!log::ParseLevel(flags.Get("log_level"), &level)) {
    return absl::InvalidArgumentError(absl::StrCat(
        flags.Describe("log_level"), ": must be debug, info, warn or error"));
  }
  log::SetLevel(level);
  return absl::OkStatus();
}

}  // namespace metad::daemon
