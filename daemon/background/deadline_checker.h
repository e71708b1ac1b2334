// Records missed deadlines and stale sources (DeadlineService), from a
// background thread of every replica.
//
// Each check is one transaction of INSERT ... ON CONFLICT DO NOTHING into
// alerts (store::DeadlineStore::RecordAlerts): checkers in several replicas
// may run at the same instant, and a unique index lets exactly one of them
// record each alert; each counts only its own inserts, so the metric summed
// over replicas is exact.
#ifndef METAD_DAEMON_BACKGROUND_DEADLINE_CHECKER_H_
#define METAD_DAEMON_BACKGROUND_DEADLINE_CHECKER_H_

#include <atomic>
#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "store/database.h"
#include "store/deadline_store.h"

namespace metad::daemon {

class DeadlineChecker {
 public:
  // Deadlines further back than this are not looked for: a daemon that was
  // down longer does not record the misses of long ago.
  static constexpr int64_t kLookbackSeconds = 7 * 24 * 3600;

  // `on_recorded` (may be empty) gets what each check recorded.
  DeadlineChecker(store::Database* db, absl::Duration interval,
                  std::function<void(const store::AlertCounts&)> on_recorded);
  ~DeadlineChecker();  // stops

  // Checks every `interval` on a thread until Stop().
  void Start();
  void Stop();

  // One check; what this call recorded. Exposed for tests. Never throws:
  // a database error is logged (once per streak) and counts nothing.
  store::AlertCounts CheckOnce();

 private:
  store::DeadlineStore store_;
  absl::Duration interval_;
  std::function<void(const store::AlertCounts&)> on_recorded_;
  absl::Notification stop_;
  std::thread thread_;
  std::atomic<bool> failing_{false};
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_DEADLINE_CHECKER_H_
