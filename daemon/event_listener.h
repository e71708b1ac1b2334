// What makes watch streams live: the daemon's one listener (a dedicated
// connection with LISTEN metad_events, or a poller) that keeps each event
// table's settled horizon (store/watch_store.h) and the hub that wakes the
// streams waiting for it to move.
//
// A stream never holds a thread or a database connection while it waits: it
// registers with the hub and is called back once when the horizon passes its
// cursor. The listener does one horizon step per table per wake-up, however
// many streams wait, and nothing at all while no stream is open.
#ifndef METAD_DAEMON_EVENT_LISTENER_H_
#define METAD_DAEMON_EVENT_LISTENER_H_

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
#include "store/database.h"
#include "store/watch_store.h"

namespace metad::daemon {

enum class WatchMode {
  // LISTEN on a dedicated connection; every daemon NOTIFYs after its
  // writes commit (daemon/event_notifier.h), which wakes the listeners of
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

// Called back by the hub; implemented by a stream.
class EventWaiter {
 public:
  virtual ~EventWaiter() = default;
  // Called once per WaitBeyond registration, under the hub's lock, when the
  // horizon passed the cursor or the hub shut down. Must not block or call
  // into the hub.
  virtual void OnHorizon() = 0;
  // Read under the hub's lock: a cancelled waiter is never registered.
  virtual bool Cancelled() const = 0;
};

class EventHub {
 public:
  explicit EventHub(int max_streams);

  // Counts a stream in; false when max_streams are open or the hub shut
  // down.
  bool Attach();
  void Detach();
  int streams() const;
  // Runs when a stream attaches to an idle hub (wakes the listener).
  void set_on_first_stream(std::function<void()> f) {
    on_first_ = std::move(f);
  }

  // Every id <= horizon(table) is settled.
  int64_t horizon(store::EventTable table) const;

  // Registers `waiter` to be called back when horizon(table) > cursor.
  // False (not registered) when that holds already, the waiter is cancelled,
  // or the hub shut down.
  bool WaitBeyond(store::EventTable table, int64_t cursor, EventWaiter* waiter);
  // True when `waiter` was registered and is removed (never called back).
  bool Cancel(EventWaiter* waiter);

  // Raises horizon(table) to `settled` (never lowers it) and calls back the
  // waiters it passed.
  void Publish(store::EventTable table, int64_t settled);

  // Calls back every waiter; from now WaitBeyond and Attach refuse.
  void Shutdown();
  bool shutting_down() const {
    return shutting_down_.load(std::memory_order_acquire);
  }

 private:
  struct Waiting {
    store::EventTable table;
    int64_t cursor;
    EventWaiter* waiter;
  };
  const int max_streams_;
  std::function<void()> on_first_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> horizon_[2] = {{0}, {0}};
  mutable absl::Mutex mu_;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
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
  void Loop();

  store::Database* db_;
  const WatchOptions options_;
  EventHub* hub_;
  absl::Mutex mu_;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_EVENT_LISTENER_H_
