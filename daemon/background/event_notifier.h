// Tells watch listeners that events were committed: this daemon's own
// listener directly, and every replica's through one NOTIFY on the events
// channel, sent after the writes committed and coalesced so that a busy
// daemon sends at most one every few milliseconds.
//
// Why not a trigger in the writing transaction (as migrations/0003 did):
// PostgreSQL serializes notifying commits on one database-wide lock until
// each commit record is flushed, which cost writers 2-3x their throughput
// (docs/benchmarks.md, Finding 1).
#ifndef METAD_DAEMON_BACKGROUND_EVENT_NOTIFIER_H_
#define METAD_DAEMON_BACKGROUND_EVENT_NOTIFIER_H_

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/watch_store.h"

namespace metad::daemon {

class EventNotifier {
 public:
  // `wake_local` is called on every Written() (cheap; e.g. the local
  // listener's Kick). With `send_notify`, a thread sends the NOTIFY through
  // `store`, at most once per `min_interval`.
  EventNotifier(store::WatchStore* store, bool send_notify,
                std::function<void()> wake_local,
                absl::Duration min_interval = absl::Milliseconds(5));
  ~EventNotifier();  // Stop()

  // Some write committed (or may have): wake the listeners. Never blocks on
  // the database.
  void Written();

  // Sends what is pending and ends the thread (idempotent).
  void Stop();

 private:
  void Loop();

  store::WatchStore* store_;
  const bool send_notify_;
  const std::function<void()> wake_local_;
  const absl::Duration min_interval_;
  absl::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_EVENT_NOTIFIER_H_
