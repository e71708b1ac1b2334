// `metad serve`: migrate (or check) the schema, serve gRPC, reap expired
// leases, follow the database's health, drain on SIGTERM or SIGINT.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/auth.h"
#include "daemon/commands.h"
#include "daemon/http_server.h"
#include "daemon/lease_reaper.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"
#include "daemon/retention.h"
#include "daemon/server.h"
#include "daemon/status_page.h"
#include "daemon/tls.h"
#include "store/database.h"
#include "store/log.h"
#include "store/migrator.h"

namespace metad::daemon {
namespace {

constexpr const char* kServeHelp =
    "usage: metad serve [flags]\n"
    "Serves metad.v1 (FileService, TaskService, TaskLogService,\n"
    "DependencyService, WatchService), gRPC reflection and grpc.health.v1\n"
    "until SIGTERM or SIGINT, then drains calls in flight and exits 0.\n\n"
    "flags:\n";

std::vector<FlagSpec> ServeFlags() {
  std::vector<FlagSpec> specs = CommonFlags();
  std::vector<FlagSpec> more = {
      {"config", "METAD_CONFIG", "",
       "file of `name = value` lines for these flags (flags and environment "
       "win over it)",
       false, Mask::kNone, /*command_line_only=*/true},
      {"print_config", "", "false",
       "print the effective configuration (secrets masked) and exit",
       /*is_bool=*/true, Mask::kNone, /*command_line_only=*/true},
      {"listen", "METAD_LISTEN", "127.0.0.1:50051", "gRPC address host:port"},
      {"pool_size", "METAD_POOL_SIZE", "8",
       "database connections (and handler threads)"},
      {"max_queued_calls", "METAD_MAX_QUEUED_CALLS", "1024",
       "calls waiting for a handler before RESOURCE_EXHAUSTED"},
      {"reaper_interval", "METAD_REAPER_INTERVAL", "1",
       "seconds between sweeps for runs whose lease lapsed"},
      {"auto_migrate", "METAD_AUTO_MIGRATE", "true",
       "apply pending migrations at start (false: refuse an old schema)"},
      {"database_wait", "METAD_DATABASE_WAIT", "60",
       "seconds to wait for the database at start"},
      {"drain", "METAD_DRAIN", "10",
       "seconds to let calls in flight finish on SIGTERM"},
      {"max_message_bytes", "METAD_MAX_MESSAGE_BYTES", "8388608",
       "largest request accepted"},
      {"metrics_listen", "METAD_METRICS_LISTEN", "",
       "host:port of the HTTP port for /metrics (empty: off)"},
      {"state_metrics_interval", "METAD_STATE_METRICS_INTERVAL", "15",
       "seconds between counts of files and runs per status for metrics"},
      {"migration_database", "METAD_MIGRATION_DATABASE_URL", "",
       "URL of the schema owner for migrations (default: --database)", false,
       Mask::kUrl},
      {"tls_cert", "METAD_TLS_CERT", "", "server certificate chain (PEM)"},
      {"tls_key", "METAD_TLS_KEY", "", "server private key (PEM)"},
      {"tls_client_ca", "METAD_TLS_CLIENT_CA", "",
       "CA (PEM) whose client certificates are required (mutual TLS)"},
      {"token_file", "METAD_TOKEN_FILE", "",
       "file of `<role> <token> [name]` lines; enables token auth"},
      {"watch_mode", "METAD_WATCH_MODE", "notify",
       "how watch streams learn of new events: notify (LISTEN) or poll "
       "(behind a transaction-pooling proxy)"},
      {"watch_poll_interval", "METAD_WATCH_POLL_INTERVAL", "0.5",
       "seconds between looks for new events in poll mode"},
      {"retention", "METAD_RETENTION", "",
       "prune finished runs, their events and file events older than this "
       "(e.g. 30d, 720h; at least 1h; empty: keep everything); files are "
       "never pruned"},
      {"ready_graph_max_tasks", "METAD_READY_GRAPH_MAX_TASKS", "100000",
       "GetReadyTasks keeps the task graph in memory up to this many tasks "
       "(0: join it in SQL on every call)"},
      {"retention_interval", "METAD_RETENTION_INTERVAL", "3600",
       "seconds between pruning rounds when --retention is set"},
  };
  specs.insert(specs.end(), more.begin(), more.end());
  return specs;
}

// --retention: empty for off, else an age of at least an hour, written as
// absl::ParseDuration does ("720h", "90m") or as whole days ("30d").
absl::StatusOr<absl::Duration> ParseRetention(const FlagSet& flags) {
  const std::string text = flags.Get("retention");
  if (text.empty() || text == "0" || text == "off") {
    return absl::ZeroDuration();
  }
  absl::Duration age;
  bool ok;
  if (text.back() == 'd') {
    int days = 0;
    ok = absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days > 0 &&
         days <= 36600;
    age = absl::Hours(24) * days;
  } else {
    ok = absl::ParseDuration(text, &age);
  }
  if (!ok || age < absl::Hours(1) || age > absl::Hours(24 * 36600)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flags.Describe("retention"),
                     ": must be empty (off) or an age from 1h to 36600d, "
                     "e.g. 30d or 720h (got \"",
                     text, "\")"));
  }
  return age;
}

int Fail(const std::string& what, const absl::Status& status) {
  log::Error(what, {{"error", status.message()}});
  std::fprintf(stderr, "metad serve: %s\n",
               std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// Brings the schema to this binary's version (or checks it), waiting for the
// database to answer for up to `wait`.
absl::Status PrepareSchema(const std::string& url, bool auto_migrate,
                           absl::Duration wait) {
  auto migrations = store::EmbeddedMigrations();
  if (!migrations.ok()) return migrations.status();
  store::Migrator migrator(url, *migrations);
  absl::Time give_up = absl::Now() + wait;
  for (;;) {
    absl::Status status = auto_migrate ? migrator.Up() : absl::OkStatus();
    if (status.ok()) status = migrator.CheckCompatible();
    if (status.code() != absl::StatusCode::kUnavailable ||
        absl::Now() >= give_up) {
      return status;
    }
    log::Warn("database_wait", {{"error", status.message()}});
    absl::SleepFor(absl::Milliseconds(250));
  }
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
  if (absl::Status s = ApplyLogLevel(flags); !s.ok())
    return Fail("bad_flags", s);
  auto pool_size = flags.GetInt("pool_size", 1, 1000);
  auto max_queued = flags.GetInt("max_queued_calls", 1, 1000000);
  auto max_message = flags.GetInt("max_message_bytes", 1024, 1 << 30);
  auto reaper_interval = flags.GetSeconds("reaper_interval");
  auto database_wait = flags.GetSeconds("database_wait");
  auto drain = flags.GetSeconds("drain");
  auto auto_migrate = flags.GetBool("auto_migrate");
  auto state_interval = flags.GetSeconds("state_metrics_interval");
  auto ready_graph_max = flags.GetInt("ready_graph_max_tasks", 0, 10000000);
  for (const absl::Status& s :
       {pool_size.status(), max_queued.status(), max_message.status(),
        reaper_interval.status(), database_wait.status(), drain.status(),
        auto_migrate.status(), state_interval.status(),
        ready_graph_max.status()}) {
    if (!s.ok()) return Fail("bad_flags", s);
  }
  WatchOptions watch;
  auto watch_poll = flags.GetSeconds("watch_poll_interval");
  if (!ParseWatchMode(flags.Get("watch_mode"), &watch.mode)) {
    return Fail("bad_flags",
                absl::InvalidArgumentError(absl::StrCat(
                    flags.Describe("watch_mode"), ": must be notify or poll")));
  }
  if (!watch_poll.ok()) return Fail("bad_flags", watch_poll.status());
  if (*watch_poll <= 0) {
    return Fail("bad_flags", absl::InvalidArgumentError(absl::StrCat(
                                 flags.Describe("watch_poll_interval"),
                                 ": must be positive")));
  }
  watch.poll_interval = absl::Seconds(*watch_poll);
  if (*reaper_interval <= 0) {
    return Fail("bad_flags",
                absl::InvalidArgumentError(absl::StrCat(
                    flags.Describe("reaper_interval"), ": must be positive")));
  }
  absl::StatusOr<absl::Duration> retention = ParseRetention(flags);
  if (!retention.ok()) return Fail("bad_flags", retention.status());
  auto retention_interval = flags.GetSeconds("retention_interval");
  if (!retention_interval.ok()) {
    return Fail("bad_flags", retention_interval.status());
  }
  if (*retention_interval < 1) {
    return Fail("bad_flags", absl::InvalidArgumentError(absl::StrCat(
                                 flags.Describe("retention_interval"),
                                 ": must be at least 1 second")));
  }
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
  absl::StatusOr<std::string> url = DatabaseUrlFromFlags(flags);
  if (!url.ok()) return Fail("bad_flags", url.status());
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

  log::Info("starting", {{"listen", flags.Get("listen")},
                         {"database", store::RedactDatabaseUrl(*url)},
                         {"pool_size", *pool_size}});
  std::string migration_url = flags.Get("migration_database").empty()
                                  ? *url
                                  : flags.Get("migration_database");
  TlsFiles tls_files{flags.Get("tls_cert"), flags.Get("tls_key"),
                     flags.Get("tls_client_ca")};
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!tls_files.cert.empty() || !tls_files.key.empty() ||
      !tls_files.client_ca.empty()) {
    auto tls = TlsServerCredentials(tls_files, /*refresh_seconds=*/5);
    if (!tls.ok()) return Fail("bad_flags", tls.status());
    credentials = *tls;
  }
  auto tokens = std::make_shared<TokenAuthenticator>();
  const std::string token_file = flags.Get("token_file");
  if (!token_file.empty()) {
    if (absl::Status s = tokens->Load(token_file); !s.ok()) {
      return Fail("bad_flags", s);
    }
  } else if (flags.Get("listen").rfind("127.", 0) != 0 &&
             flags.Get("listen").rfind("localhost:", 0) != 0 &&
             flags.Get("listen").rfind("[::1]:", 0) != 0) {
    log::Warn("no_authentication",
              {{"listen", flags.Get("listen")},
               {"hint", "set --token_file (and TLS) off loopback"}});
  }

  if (absl::Status s = PrepareSchema(migration_url, *auto_migrate,
                                     absl::Seconds(*database_wait));
      !s.ok()) {
    return Fail("schema_not_ready", s);
  }

  store::DatabaseOptions db_options;
  db_options.url = *url;
  db_options.pool_size = *pool_size;
  store::Database db(db_options);

  std::unique_ptr<Metrics> metrics;
  HttpServer http;
  if (!flags.Get("metrics_listen").empty()) {
    metrics = std::make_unique<Metrics>(METAD_VERSION);
    http.Handle("/metrics", [&metrics](const HttpRequest&) {
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                          metrics->Render()};
    });
    RegisterStatusPage(&http, &db);
    if (absl::Status s = http.Start(flags.Get("metrics_listen")); !s.ok()) {
      return Fail("metrics_listen_failed", s);
    }
  }

  ServerOptions server_options;
  server_options.listen = flags.Get("listen");
  server_options.worker_threads = *pool_size;
  server_options.max_queued_calls = *max_queued;
  server_options.max_receive_message_bytes = *max_message;
  server_options.credentials = credentials;
  server_options.watch = watch;
  server_options.dependencies.ready_graph_max_tasks = *ready_graph_max;
  if (!token_file.empty()) {
    server_options.authorizer = [tokens](const grpc::ServerContextBase& ctx,
                                         const char* method) {
      return tokens->Authorize(ctx, method);
    };
  }
  if (metrics != nullptr) {
    server_options.call_observer = [&metrics](const CallRecord& call) {
      metrics->RecordCall(call);
    };
  }
  auto server = MetadServer::Start(&db, server_options);
  if (!server.ok()) return Fail("listen_failed", server.status());

  LeaseReaper reaper(&db, absl::Seconds(*reaper_interval));
  reaper.set_on_expired([&server] { (*server)->EventsWritten(); });
  reaper.Start();

  // Health follows the database: NOT_SERVING while it does not answer.
  Monitor monitor(
      &db, metrics.get(), [&server](bool up) { (*server)->SetServing(up); },
      absl::Seconds(*state_interval));
  monitor.Start();

  // Off by default. Every replica may run it: pruners skip each other's rows.
  std::unique_ptr<RetentionPruner> pruner;
  if (*retention > absl::ZeroDuration()) {
    PruneOptions prune;
    prune.older_than = *retention;
    Metrics* m = metrics.get();
    pruner = std::make_unique<RetentionPruner>(
        &db, prune, absl::Seconds(*retention_interval),
        [m](const store::PruneCounts& c) {
          if (m == nullptr) return;
          m->RecordPruned("task_log", c.runs);
          m->RecordPruned("run_events", c.run_events);
          m->RecordPruned("file_events", c.file_events);
        });
    pruner->Start();
  }

  log::Info("serving", {{"listen", flags.Get("listen")},
                        {"port", (*server)->port()},
                        {"metrics_port", http.port()}});
  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    // SIGHUP: re-read the token file; certificate files are watched anyway,
    // but check them now so a broken renewal shows up in the log at once.
    if (!token_file.empty()) {
      absl::Status s = tokens->Load(token_file);
      log::Write(s.ok() ? log::Level::kInfo : log::Level::kError,
                 "tokens_reloaded",
                 {{"ok", s.ok()},
                  {"tokens", static_cast<int64_t>(tokens->size())},
                  {"error", s.message()}});
    }
    if (credentials != nullptr) {
      absl::Status s = CheckTlsFiles(tls_files);
      log::Write(s.ok() ? log::Level::kInfo : log::Level::kError,
                 "tls_files_checked", {{"ok", s.ok()}, {"error", s.message()}});
    }
  }
  log::Info("draining", {{"signal", signal_number}});
  if (pruner != nullptr) pruner->Stop();
  monitor.Stop();
  reaper.Stop();
  log::Debug("background_stopped");
  (*server)->Shutdown(absl::Seconds(*drain));
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
