// `metad serve`'s configuration: its flags, and the one function that turns
// flags, environment and config file into checked values. Nothing here
// touches the database or the network.
#ifndef METAD_DAEMON_APP_SERVE_CONFIG_H_
#define METAD_DAEMON_APP_SERVE_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/app/flags.h"
#include "daemon/background/event_listener.h"
#include "daemon/rpc/tls.h"

namespace metad::daemon {

struct ServeConfig {
  std::string listen;          // gRPC host:port
  std::string metrics_listen;  // operator HTTP port; empty: off
  // The status page's own port; empty: on metrics_listen.
  std::string status_listen;
  // Tokens (any role) the status page's API requires; empty: open.
  std::string status_token_file;
  int http_threads = 32;  // per HTTP port: connections served at once
  absl::Duration http_request_timeout = absl::Seconds(10);
  int pool_size = 8;            // database connections and handler threads
  int max_queued_calls = 1024;  // calls waiting before RESOURCE_EXHAUSTED
  int max_message_bytes = 8 << 20;
  absl::Duration reaper_interval = absl::Seconds(1);
  absl::Duration database_wait = absl::Seconds(60);
  absl::Duration drain = absl::Seconds(10);
  bool auto_migrate = true;
  absl::Duration state_metrics_interval = absl::Seconds(15);
  int ready_graph_max_tasks = 100000;
  WatchOptions watch;
  // Zero: retention off.
  absl::Duration retention = absl::ZeroDuration();
  absl::Duration retention_interval = absl::Seconds(3600);
  // --fence_state_file: empty when the timeline fence remembers in memory
  // only.
  std::string fence_state_file;
  TlsFiles tls;
  std::string token_file;  // empty: no token auth
  // Filled by ResolveDatabaseUrls (they may read a password file).
  std::string database_url;
  std::string migration_database_url;
  // --read_database: empty when reads stay on database_url.
  std::string read_database_url;
};

// Every flag of `metad serve`, CommonFlags() included.
std::vector<FlagSpec> ServeFlags();

// Checks every value and returns them typed; INVALID_ARGUMENT naming the
// flag (as FlagSet::Describe words it) and the rule otherwise. Leaves the
// database URLs empty.
absl::StatusOr<ServeConfig> ParseServeConfig(const FlagSet& flags);

// Sets config->database_url and migration_database_url
// (DatabaseUrlFromFlags: a password file goes to PGPASSWORD).
absl::Status ResolveDatabaseUrls(const FlagSet& flags, ServeConfig* config);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_APP_SERVE_CONFIG_H_
