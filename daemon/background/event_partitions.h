// Keeps the event tables' partitions ahead of their id sequences
// (migrations/0014_partitioned_history.up.sql) in every replica, whether or
// not retention runs: one call a minute, which creates nothing most of the
// time. An insert never waits for it (a DEFAULT partition catches rows past
// the partitions made), but it keeps that partition empty.
#ifndef METAD_DAEMON_BACKGROUND_EVENT_PARTITIONS_H_
#define METAD_DAEMON_BACKGROUND_EVENT_PARTITIONS_H_

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "store/database.h"
#include "store/retention_store.h"

namespace metad::daemon {

class EventPartitioner {
 public:
  EventPartitioner(store::Database* db, absl::Duration interval);
  ~EventPartitioner();  // stops

  void Start();  // a first call at once, then every interval
  void Stop();
  // One call; logs and swallows failures (the next call tries again).
  void RunOnce();

 private:
  store::RetentionStore store_;
  absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_EVENT_PARTITIONS_H_
