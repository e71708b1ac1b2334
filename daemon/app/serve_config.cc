#include "daemon/app/serve_config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/app/commands.h"

namespace metad::daemon {
namespace {

absl::Status MustBe(const FlagSet& flags, const char* name, const char* rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(flags.Describe(name), ": ", rule));
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

}  // namespace

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
      {"status_listen", "METAD_STATUS_LISTEN", "",
       "host:port of the status page's own HTTP port (empty: on "
       "--metrics_listen)"},
      {"status_token_file", "METAD_STATUS_TOKEN_FILE", "",
       "file of `<role> <token> [name]` lines (any role; may be --token_file)"
       " whose tokens the status page's API requires (empty: open)"},
      {"http_threads", "METAD_HTTP_THREADS", "32",
       "connections each HTTP port serves at once (more wait)"},
      {"http_request_timeout", "METAD_HTTP_REQUEST_TIMEOUT", "10",
       "seconds an HTTP client has to send its request before it is "
       "disconnected"},
      {"state_metrics_interval", "METAD_STATE_METRICS_INTERVAL", "15",
       "seconds between counts of files and runs per status for metrics"},
      {"migration_database", "METAD_MIGRATION_DATABASE_URL", "",
       "URL of the schema owner for migrations (default: --database)", false,
       Mask::kUrl},
      {"read_database", "METAD_READ_DATABASE_URL", "",
       "URL for calls without side effects (Get, List, GetReadyTasks, the "
       "status page), e.g. a standby with target_session_attrs="
       "prefer-standby; empty: all on --database (docs/scaling.md)",
       false, Mask::kUrl},
      {"fence_state_file", "METAD_FENCE_STATE_FILE", "",
       "file where the timeline fence keeps the highest (system identifier, "
       "timeline) of the database seen, so a restarted daemon still refuses "
       "an old primary back unfenced (empty: memory only; "
       "docs/reliability.md)"},
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

absl::StatusOr<ServeConfig> ParseServeConfig(const FlagSet& flags) {
  ServeConfig c;
  c.listen = flags.Get("listen");
  c.metrics_listen = flags.Get("metrics_listen");
  c.status_listen = flags.Get("status_listen");
  c.status_token_file = flags.Get("status_token_file");
  auto http_threads = flags.GetInt("http_threads", 1, 1024);
  auto http_timeout = flags.GetSeconds("http_request_timeout");
  if (!http_threads.ok()) return http_threads.status();
  c.http_threads = *http_threads;
  if (!http_timeout.ok()) return http_timeout.status();
  if (*http_timeout < 0.1 || *http_timeout > 3600) {
    return MustBe(flags, "http_request_timeout",
                  "must be from 0.1 to 3600 seconds");
  }
  c.http_request_timeout = absl::Seconds(*http_timeout);
  if (!c.status_listen.empty() && c.status_listen == c.metrics_listen) {
    c.status_listen.clear();  // the same port: one server
  }
  auto pool_size = flags.GetInt("pool_size", 1, 1000);
  auto max_queued = flags.GetInt("max_queued_calls", 1, 1000000);
  auto max_message = flags.GetInt("max_message_bytes", 1024, 1 << 30);
  auto reaper_interval = flags.GetSeconds("reaper_interval");
  auto database_wait = flags.GetSeconds("database_wait");
  auto drain = flags.GetSeconds("drain");
  auto auto_migrate = flags.GetBool("auto_migrate");
  auto state_interval = flags.GetSeconds("state_metrics_interval");
  auto ready_graph_max = flags.GetInt("ready_graph_max_tasks", 0, 10000000);
  auto watch_poll = flags.GetSeconds("watch_poll_interval");
  auto retention_interval = flags.GetSeconds("retention_interval");
  for (const absl::Status& s :
       {pool_size.status(), max_queued.status(), max_message.status(),
        reaper_interval.status(), database_wait.status(), drain.status(),
        auto_migrate.status(), state_interval.status(),
        ready_graph_max.status()}) {
    if (!s.ok()) return s;
  }
  c.pool_size = *pool_size;
  c.max_queued_calls = *max_queued;
  c.max_message_bytes = *max_message;
  c.database_wait = absl::Seconds(*database_wait);
  c.drain = absl::Seconds(*drain);
  c.auto_migrate = *auto_migrate;
  c.state_metrics_interval = absl::Seconds(*state_interval);
  c.ready_graph_max_tasks = *ready_graph_max;
  if (!ParseWatchMode(flags.Get("watch_mode"), &c.watch.mode)) {
    return MustBe(flags, "watch_mode", "must be notify or poll");
  }
  if (!watch_poll.ok()) return watch_poll.status();
  if (*watch_poll <= 0) {
    return MustBe(flags, "watch_poll_interval", "must be positive");
  }
  c.watch.poll_interval = absl::Seconds(*watch_poll);
  if (*reaper_interval <= 0) {
    return MustBe(flags, "reaper_interval", "must be positive");
  }
  c.reaper_interval = absl::Seconds(*reaper_interval);
  absl::StatusOr<absl::Duration> retention = ParseRetention(flags);
  if (!retention.ok()) return retention.status();
  c.retention = *retention;
  if (!retention_interval.ok()) return retention_interval.status();
  if (*retention_interval < 1) {
    return MustBe(flags, "retention_interval", "must be at least 1 second");
  }
  c.retention_interval = absl::Seconds(*retention_interval);
  c.tls = {flags.Get("tls_cert"), flags.Get("tls_key"),
           flags.Get("tls_client_ca")};
  c.token_file = flags.Get("token_file");
  c.fence_state_file = flags.Get("fence_state_file");
  return c;
}

absl::Status ResolveDatabaseUrls(const FlagSet& flags, ServeConfig* config) {
  absl::StatusOr<std::string> url = DatabaseUrlFromFlags(flags);
  if (!url.ok()) return url.status();
  config->database_url = *url;
  config->migration_database_url = flags.Get("migration_database").empty()
                                       ? *url
                                       : flags.Get("migration_database");
  // A password file's password reaches libpq through PGPASSWORD, for this
  // URL too.
  config->read_database_url = flags.Get("read_database");
  return absl::OkStatus();
}

}  // namespace metad::daemon
