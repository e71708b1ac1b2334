// What makes watch streams live: the daemon's one listener (a dedicated
// connection with LISTEN metad_events, or a poller) that advances each event
// table's settled horizon (store/watch_store.h) and publishes it to the
// EventHub (event_hub.h). It does one horizon step per table per wake-up,
// however many streams wait, and nothing at all while no stream is open.
#ifndef METAD_DAEMON_BACKGROUND_EVENT_LISTENER_H_
#define METAD_DAEMON_BACKGROUND_EVENT_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/background/event_hub.h"
#include "store/database.h"
#include "store/notification_listener.h"
#include "store/watch_store.h"

namespace metad::daemon {

enum class WatchMode {
  // LISTEN on a dedicated connection; every daemon NOTIFYs after its
  // writes commit (daemon/background/event_notifier.h), which wakes the
  // listeners of
  // all replicas.
  kNotify,
  // Look every poll_interval; for a transaction-pooling proxy in front of
  // the database, where LISTEN cannot work.
  kPoll,
};

// "notify" / "poll"; false for anything else.
bool ParseWatchMode(absl::string_view text, WatchMode* mode);

struct WatchOptions {
  WatchMode mode = WatchMode::kNotify;
  // Poll mode: time between looks. Notify mode: also used while the LISTEN
  // connection is down.
  absl::Duration poll_interval = absl::Milliseconds(500);
  // Streams served at once; more get RESOURCE_EXHAUSTED.
  int max_streams = 1000;
  // Threads that read streams' batches (each holds a pooled connection only
  // while it reads).
  int read_threads = 2;
};

// The one listener thread of a daemon.
class EventListener {
 public:
  EventListener(store::Database* db, WatchOptions options, EventHub* hub);
  ~EventListener();  // Stop()

  // Starts the thread (idempotent).
  void Start();
  // Asks for a horizon step now (a stream arrived at an idle hub).
  void Kick();
  // Ends the thread within ~100 ms (idempotent).
  void Stop();

 private:
  struct TableState {
    store::Horizon horizon;
    bool dirty = true;
    absl::Time last_step = absl::InfinitePast();
    absl::Time fence_due = absl::InfiniteFuture();
    absl::Duration fence_wait;
  };

  void Loop();
  // Notify mode: (re)opens the LISTEN connection when it is due.
  void MaybeListen(absl::Time now);
  // When the next horizon step is due (dirty tables, fence checks, the next
  // look); the next look alone while no stream is open.
  absl::Time NextWake(absl::Time now, bool active);
  // Waits until `wake` (at most one slice) for a notification, a Kick() or
  // Stop().
  void WaitUntil(absl::Time now, absl::Time wake);
  // Advances the horizon of every dirty table and publishes it.
  void StepDirtyTables(absl::Time now);
  void MarkAll();
  void MarkPayload(const std::string& payload);

  const WatchOptions options_;
  EventHub* hub_;
  absl::Mutex mu_;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;

  // Owned by the listener thread.
  store::WatchStore store_;
  store::NotificationListener listener_;
  TableState tables_[2];
  absl::Time next_connect_ = absl::InfinitePast();
  absl::Duration connect_backoff_;
  absl::Time next_look_ = absl::InfinitePast();
  bool reported_error_ = false;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_EVENT_LISTENER_H_
