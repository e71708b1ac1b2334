// The gRPC server: every metad.v1 service, reflection and grpc.health.v1 on
// one port, with the worker pool their handlers run on.
#ifndef METAD_DAEMON_APP_SERVER_H_
#define METAD_DAEMON_APP_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/background/event_listener.h"
#include "daemon/rpc/call_runner.h"
#include "daemon/rpc/worker_pool.h"
#include "store/database.h"
#include "store/dependency_store.h"

namespace metad::daemon {

struct ServerOptions {
  // host:port; port 0 picks a free one (see MetadServer::port()).
  std::string listen = "127.0.0.1:50051";
  // Threads that run handlers (each may hold a database connection).
  int worker_threads = 8;
  // Calls waiting for a worker before RESOURCE_EXHAUSTED.
  int max_queued_calls = 1024;
  // Largest request accepted, in bytes.
  int max_receive_message_bytes = 8 << 20;
  // Server credentials; insecure when null.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Told about every finished call (metrics); may be empty.
  std::function<void(const CallRecord&)> call_observer;
  // Checks every metad call's credentials; none when empty. Health and
  // reflection stay open.
  CallRunner::Authorizer authorizer;
  // The name of the caller's token (events' actor); empty when none.
  CallRunner::Namer namer;
  // WatchService: notify (LISTEN) or poll, and its limits.
  WatchOptions watch;
  // DependencyService: how big a task graph GetReadyTasks holds in memory.
  store::DependencyStoreOptions dependencies;
};

class MetadServer {
 public:
  // Binds and starts serving; health starts SERVING. UNAVAILABLE if the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetadServer>> Start(
      store::Database* db, const ServerOptions& options);
  ~MetadServer();

  int port() const { return port_; }
  CallRunner* runner() { return &runner_; }

  // Events were committed outside a call (the lease reaper): wake watch
  // streams here and on every replica.
  void EventsWritten();

  // For metrics: calls waiting for a handler thread, threads running one,
  // watch streams open.
  int queued_calls() const { return pool_.queued(); }
  int busy_workers() const { return pool_.busy(); }
  int watch_streams() const;

  // Health of "" and of every metad service (and of kWritesHealthName:
  // never SERVING while the database is not).
  void SetServing(bool serving);
  // Health of kWritesHealthName (daemon/http/writes_health.h).
  void SetWritesServing(bool serving);

  // Health NOT_SERVING, then stops accepting calls and waits up to `drain`
  // for calls in flight, cancelling what is left. Idempotent.
  void Shutdown(absl::Duration drain);

 private:
  MetadServer(store::Database* db, const ServerOptions& options);
  struct Services;

  WorkerPool pool_;
  CallRunner runner_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
  std::atomic<bool> serving_{false};
  std::atomic<bool> writes_serving_{true};
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_APP_SERVER_H_
