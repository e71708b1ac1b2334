// The running daemon: owns every part of `metad serve` and starts and stops
// them in order. Start: credentials and tokens, the schema, the connection
// pool, the operator port, the gRPC server, then the background work (lease
// reaper, monitor, retention). Stop: the background work, then the server
// drains. Signals are the caller's (serve_command.cc).
#ifndef METAD_DAEMON_APP_DAEMON_H_
#define METAD_DAEMON_APP_DAEMON_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "daemon/app/serve_config.h"

namespace metad::daemon {

class Daemon {
 public:
  explicit Daemon(ServeConfig config);
  ~Daemon();  // Stop()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts every part. On failure the parts started are stopped again,
  // *event names the step that failed (for the log), and the status says
  // why: INVALID_ARGUMENT for unusable TLS or token files, what the
  // migrator or the listeners returned otherwise.
  absl::Status Start(std::string* event);

  // SIGHUP: re-reads the token files and checks the TLS files, logging the
  // outcome; the files in use stay when the new ones are bad.
  void Reload();

  // Background work first, then the gRPC server drains for config.drain.
  // Idempotent.
  void Stop();

  int grpc_port() const;
  int metrics_port() const;
  // --status_listen's port, else metrics_port().
  int status_port() const;

 private:
  struct Parts;
  const ServeConfig config_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_APP_DAEMON_H_
