// The hub that wakes watch streams: it keeps each event table's settled
// horizon (store/watch_store.h) and calls back the streams waiting for it to
// pass their cursor. Fed by the daemon's one EventListener.
//
// A stream never holds a thread or a database connection while it waits: it
// registers with the hub and is called back once when the horizon passes its
// cursor.
#ifndef METAD_DAEMON_BACKGROUND_EVENT_HUB_H_
#define METAD_DAEMON_BACKGROUND_EVENT_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "store/watch_store.h"

namespace metad::daemon {

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

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_EVENT_HUB_H_
