// Ends runs whose lease lapsed, from a background thread of every replica.
//
// Each run is expired in its own transaction under its (task, batch) lock with
// a conditional update (store::RunStore::ExpireRun), so replicas sweeping at
// the same time never end a run twice, and a run that a worker finished or
// extended in the meantime is left alone.
#ifndef METAD_DAEMON_BACKGROUND_LEASE_REAPER_H_
#define METAD_DAEMON_BACKGROUND_LEASE_REAPER_H_

#include <atomic>
#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "store/database.h"
#include "store/run_store.h"

namespace metad::daemon {

class LeaseReaper {
 public:
  LeaseReaper(store::Database* db, absl::Duration interval);
  ~LeaseReaper();  // stops

  // Called after a sweep that ended runs (their events are committed); set
  // before Start().
  void set_on_expired(std::function<void()> f) { on_expired_ = std::move(f); }
  // Called with the runs whose lease the lease clock pushed back after an
  // outage (store/lease_clock.h); set before Start().
  void set_on_extended(std::function<void(int64_t)> f) {
    on_extended_ = std::move(f);
  }

  // Sweeps every `interval` on a thread until Stop().
  void Start();
  void Stop();

  // One sweep; returns how many runs it ended. Exposed for tests. Never
  // throws: database errors are logged and the sweep ends early (the next
  // one tries again).
  int SweepOnce();

  // Runs whose lease the lease clock pushed back after an outage, since
  // start (metad_lease_extended_total).
  int64_t leases_extended() const { return leases_extended_.load(); }

  // How old a tick of the lease clock must be to count as an outage, for a
  // reaper sweeping every `interval`.
  static absl::Duration StaleAfter(absl::Duration interval);

 private:
  // Logs the first failure of a streak and the recovery, not every sweep.
  void NoteFailure(const absl::Status& status);
  void NoteSuccess();

  store::Database* db_;
  store::RunStore store_;
  absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
  std::atomic<bool> failing_{false};
  std::atomic<int64_t> leases_extended_{0};
  std::function<void()> on_expired_;
  std::function<void(int64_t)> on_extended_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_LEASE_REAPER_H_
