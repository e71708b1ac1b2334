// Ends runs whose lease lapsed, from a background thread of every replica.
#ifndef METAD_DAEMON_LEASE_REAPER_H_
#define METAD_DAEMON_LEASE_REAPER_H_

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "store/database.h"

namespace metad::daemon {

class LeaseReaper {
 public:
  LeaseReaper(store::Database* db, absl::Duration interval);
  ~LeaseReaper();  // stops

  void Start();
  void Stop();

  // One sweep; returns how many runs it ended. Exposed for tests.
  int SweepOnce();

 private:
  store::Database* db_;
  absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_LEASE_REAPER_H_
