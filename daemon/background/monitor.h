// Follows the database from a background thread: health SERVING only while
// it answers, and (with metrics on) pool and state gauges.
#ifndef METAD_DAEMON_BACKGROUND_MONITOR_H_
#define METAD_DAEMON_BACKGROUND_MONITOR_H_

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "daemon/http/metrics.h"
#include "store/database.h"

namespace metad::daemon {

class Monitor {
 public:
  // `set_serving` is called when the database's reachability changes.
  // `metrics` may be null.
  Monitor(store::Database* db, Metrics* metrics,
          std::function<void(bool)> set_serving, absl::Duration state_interval);
  ~Monitor();  // stops

  void Start();
  void Stop();

 private:
  void Loop();

  store::Database* db_;
  Metrics* metrics_;
  std::function<void(bool)> set_serving_;
  absl::Duration state_interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_MONITOR_H_
