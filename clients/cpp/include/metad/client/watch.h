// WatchStream: a WatchFiles or WatchRuns stream that survives the daemon.
//
//   auto stream = client.WatchFiles(request);
//   v1::WatchedFileEvent event;
//   while (stream->Next(&event)) Handle(event);
//   if (!stream->status().ok()) ...;  // e.g. OUT_OF_RANGE: history pruned
//
// When the stream breaks with UNAVAILABLE (the daemon restarts or loses its
// database, the network fails), or with a CANCELLED this side did not ask
// for (a daemon shutting down cancels the streams still open after its
// drain), it is opened again, after a backoff, with
// after_event_id = the id of the last event delivered, so no event is missed
// or repeated (the daemon reads streams from the event tables by cursor; see
// proto/metad/v1/watch.proto). Before any event arrived it resumes from the
// position the daemon resolved (the `metad-after-event-id` header), so a
// stream that started "from now" (0) does not skip what came in between.
// Every other code ends the stream: OUT_OF_RANGE when the history to resume
// from was pruned (resume with -1 or 0 knowingly), INVALID_ARGUMENT,
// PERMISSION_DENIED, RESOURCE_EXHAUSTED (too many streams), ...
#ifndef METAD_CLIENT_WATCH_H_
#define METAD_CLIENT_WATCH_H_

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/time/time.h"
#include "metad/v1/watch.grpc.pb.h"

namespace metad::client {

struct WatchOptions {
  // Pause before reopening a broken stream: exponential with jitter, from
  // initial_backoff up to max_backoff; back to initial_backoff once a
  // reopened stream is answered.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;
  // Consecutive failed opens before giving up with UNAVAILABLE; 0: never
  // give up (a watch waits for its daemon).
  int max_reconnects = 0;
  // Called before each reconnect with why the stream broke and the pause;
  // for logs. Runs on the thread that called Next().
  std::function<void(const grpc::Status&, absl::Duration)> on_reconnect;
};

// One watch, read by one thread through Next(); Cancel() from any thread.
// Event is v1::WatchedFileEvent or v1::WatchedRunEvent.
template <typename Event>
class WatchStream {
 public:
  // Opens a stream starting after `after_event_id` (the request's cursor,
  // filled in by the stream) on a fresh context.
  using Opener = std::function<std::unique_ptr<grpc::ClientReader<Event>>(
      grpc::ClientContext*, int64_t after_event_id)>;
  // Adds the call's metadata (token) to a fresh context.
  using ContextSetup = std::function<void(grpc::ClientContext*)>;

  WatchStream(Opener open, ContextSetup setup, int64_t after_event_id,
              WatchOptions options);
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Blocks until the next event (true), or until the stream ended for good
  // (false; see status()). Reconnects by itself after UNAVAILABLE.
  bool Next(Event* event);
  // Why Next() returned false: OK after Cancel(), else the code that ended
  // the stream.
  grpc::Status status() const;
  // The cursor: the last event id delivered, or where the stream started.
  int64_t after_event_id() const;
  // Reconnects so far (for tests and logs).
  int reconnects() const;
  // Ends the stream: a blocked or later Next() returns false with OK.
  void Cancel();

 private:
  // Opens the stream (again) at the cursor; false when cancelled.
  bool Open();
  // Waits `pause` unless cancelled first; false when cancelled.
  bool Pause(absl::Duration pause);

  const Opener open_;
  const ContextSetup setup_;
  const WatchOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cancelled_cv_;
  bool cancelled_ = false;               // guarded by mu_
  grpc::ClientContext* live_ = nullptr;  // guarded by mu_
  grpc::Status status_;                  // guarded by mu_
  int64_t after_ = 0;                    // guarded by mu_
  int reconnects_ = 0;                   // guarded by mu_

  // Used only by the thread that calls Next().
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<Event>> reader_;
  bool header_read_ = false;
  bool delivered_ = false;
  bool done_ = false;
  int failed_opens_ = 0;
};

using FileWatch = WatchStream<v1::WatchedFileEvent>;
using RunWatch = WatchStream<v1::WatchedRunEvent>;

}  // namespace metad::client

#endif  // METAD_CLIENT_WATCH_H_
