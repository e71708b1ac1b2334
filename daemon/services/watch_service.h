// metad.v1.WatchService: server streams of file and run events.
//
// Each stream is a gRPC callback reactor that reads its events from the
// event tables in batches (store::WatchStore, one short read transaction per
// batch on this service's own small thread pool), writes them one at a time
// (never more than one write in flight, at most one batch buffered), and
// when it has caught up with the settled horizon registers with the
// EventHub and holds no thread and no connection until the horizon moves.
//
// Both RPCs answer INVALID_ARGUMENT naming the field for a malformed filter
// or cursor, UNAUTHENTICATED / PERMISSION_DENIED from the call runner's
// authorizer (the reader role suffices), RESOURCE_EXHAUSTED when
// max_streams are open; a stream ends with UNAVAILABLE on shutdown or a
// database failure, CANCELLED when the client goes away.
#ifndef METAD_DAEMON_SERVICES_WATCH_SERVICE_H_
#define METAD_DAEMON_SERVICES_WATCH_SERVICE_H_

#include "daemon/background/event_listener.h"
#include "daemon/background/event_notifier.h"
#include "daemon/rpc/call_runner.h"
#include "daemon/rpc/worker_pool.h"
#include "metad/v1/watch.grpc.pb.h"
#include "store/database.h"
#include "store/watch_store.h"

namespace metad::daemon {

// The response header carrying the position a stream starts after.
inline constexpr char kWatchStartHeader[] = "metad-after-event-id";

class WatchServiceImpl final : public metad::v1::WatchService::CallbackService {
 public:
  // The listener (LISTEN connection or poller, one thread) starts with the
  // first stream.
  WatchServiceImpl(store::Database* db, CallRunner* runner,
                   WatchOptions options = {});
  // Shutdown(). The gRPC server must have stopped first (no stream left).
  ~WatchServiceImpl() override;

  grpc::ServerWriteReactor<metad::v1::WatchedFileEvent>* WatchFiles(
      grpc::CallbackServerContext* context,
      const metad::v1::WatchFilesRequest* request) override;

  grpc::ServerWriteReactor<metad::v1::WatchedRunEvent>* WatchRuns(
      grpc::CallbackServerContext* context,
      const metad::v1::WatchRunsRequest* request) override;

  // Ends every open stream now with UNAVAILABLE, refuses new ones and stops
  // the listener. Streams never end by themselves, so call this before
  // grpc::Server::Shutdown, or draining waits for its deadline. Idempotent.
  void Shutdown();

  // Streams open now.
  int open_streams() const { return hub_.streams(); }

  // A write that may have appended events committed (any replica's streams
  // must look): called after each successful writing call and lease expiry.
  void EventsWritten() { notifier_.Written(); }

 private:
  CallRunner* runner_;
  store::WatchStore store_;
  EventHub hub_;
  EventListener listener_;
  EventNotifier notifier_;
  // Last: destroyed (joined) first, while what its tasks use still exists.
  WorkerPool reads_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_WATCH_SERVICE_H_
