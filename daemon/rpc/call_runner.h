// Runs a unary RPC's handler on the worker pool and finishes the call with
// its status: the one path every metad RPC takes (see any *_service.cc).
#ifndef METAD_DAEMON_RPC_CALL_RUNNER_H_
#define METAD_DAEMON_RPC_CALL_RUNNER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/rpc/worker_pool.h"
#include "store/database.h"

namespace metad::daemon {

// What a finished call reports, for logs and metrics.
struct CallRecord {
  const char* method;
  absl::StatusCode code;
  double seconds;
};

// Read-your-writes with --read_database (docs/scaling.md): a write's OK
// answer carries, in this trailer, a WAL position at or past its commit
// (decimal); a read that sends it back in this request header is served by a
// standby only once the standby has replayed that far, else by the primary.
inline constexpr char kCommitPositionTrailer[] = "metad-commit-lsn";
inline constexpr char kMinPositionHeader[] = "metad-min-lsn";

class CallRunner {
 public:
  using Handler = std::function<absl::Status(const store::TxOptions&)>;

  explicit CallRunner(WorkerPool* pool);

  // Returns the call's reactor. The handler runs on a pool thread with the
  // call's deadline and cancellation in TxOptions; a full queue answers
  // RESOURCE_EXHAUSTED without running it.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                const char* method, Handler handler);

  // For handlers that answer later from another thread (group commit): the
  // handler runs on gRPC's thread, must not block, and calls `done` exactly
  // once. Authorization, logs and metrics are those of Run.
  using Done = std::function<void(const absl::Status&)>;
  using AsyncHandler = std::function<void(store::TxOptions, Done)>;
  grpc::ServerUnaryReactor* RunAsync(grpc::CallbackServerContext* context,
                                     const char* method, AsyncHandler handler);

  // The primary pool's commit position (0: not tracked), sent with every
  // OK answer of a method with side effects; set before serving.
  void set_commit_position(std::function<uint64_t()> position) {
    commit_position_ = std::move(position);
  }

  // Called after every call (metrics; watch streams learn of writes), in
  // the order added; add before serving.
  void add_observer(std::function<void(const CallRecord&)> observer) {
    observers_.push_back(std::move(observer));
  }

  // Decides, before any work, whether the caller may call `method`
  // (UNAUTHENTICATED / PERMISSION_DENIED otherwise); set before serving.
  using Authorizer = std::function<absl::Status(const grpc::ServerContextBase&,
                                                const char* method)>;
  void set_authorizer(Authorizer authorizer) {
    authorizer_ = std::move(authorizer);
  }

  // The name of the caller's token, for the events a call writes; set with
  // the authorizer.
  using Namer = std::function<std::string(const grpc::ServerContextBase&)>;
  void set_namer(Namer namer) { namer_ = std::move(namer); }

  // Who makes a call's changes (the actor of its events): the token's name
  // when tokens are configured, else the caller's peer address.
  std::string ActorOf(const grpc::ServerContextBase& context) const;

  // The authorizer's verdict (OK when none is set), for calls that do not go
  // through Run: server streams check it before they start.
  absl::Status Authorize(const grpc::ServerContextBase& context,
                         const char* method) const {
    return authorizer_ ? authorizer_(context, method) : absl::OkStatus();
  }

 private:
  // What finishes a call: log line, observer, reactor->Finish.
  Done Finisher(grpc::CallbackServerContext* context,
                grpc::ServerUnaryReactor* reactor, const char* method);

  WorkerPool* pool_;
  std::vector<std::function<void(const CallRecord&)>> observers_;
  Authorizer authorizer_;
  Namer namer_;
  std::function<uint64_t()> commit_position_;
};

// TxOptions carrying the call's deadline and cancellation, and the position
// of kMinPositionHeader when the caller sent one.
store::TxOptions TxOptionsFor(grpc::ServerContextBase* context);

// For RunAsync handlers that hand their call to a group committer: the
// callback that, given the committer's answer, lets `fill` write a result
// into the response and finishes the call with the answer's status.
template <typename T, typename Fill>
std::function<void(absl::StatusOr<T>)> Answer(CallRunner::Done done,
                                              Fill fill) {
  return [done = std::move(done),
          fill = std::move(fill)](absl::StatusOr<T> result) {
    if (result.ok()) fill(*result);
    done(result.status());
  };
}

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_CALL_RUNNER_H_
