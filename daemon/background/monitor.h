// Follows the database from a background thread: health SERVING only while
// it answers, and (with metrics on) pool and state gauges. With
// set_writes, it also probes every second whether a write can be made
// durable (store/durability_probe.h): reads may go on while no write can
// (a synchronous standby gone, a read-only node).
#ifndef METAD_DAEMON_BACKGROUND_MONITOR_H_
#define METAD_DAEMON_BACKGROUND_MONITOR_H_

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "daemon/http/metrics.h"
#include "daemon/http/writes_health.h"
#include "store/database.h"

namespace metad::daemon {

class Monitor {
 public:
  // `set_serving` is called when the database's reachability changes.
  // `metrics` may be null.
  Monitor(store::Database* db, Metrics* metrics,
          std::function<void(bool)> set_serving, absl::Duration state_interval);
  ~Monitor();  // stops

  // `health` (outliving the monitor) holds the probe's last answer;
  // `set_writes_serving` is called when it changes. Before Start().
  void set_writes(WritesHealth* health,
                  std::function<void(bool)> set_writes_serving) {
    writes_ = health;
    set_writes_serving_ = std::move(set_writes_serving);
  }

  void Start();
  void Stop();

 private:
  void Loop();
  // Probes writes (or, with the database away, notes they cannot be made)
  // and reports a change.
  void UpdateWrites(bool database_up);

  store::Database* db_;
  Metrics* metrics_;
  std::function<void(bool)> set_serving_;
  absl::Duration state_interval_;
  WritesHealth* writes_ = nullptr;
  std::function<void(bool)> set_writes_serving_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_BACKGROUND_MONITOR_H_
