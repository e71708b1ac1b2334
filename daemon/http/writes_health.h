// Whether writes can be made durable now, as the monitor's write probe last
// found (daemon/background/monitor.h): read by the status page; the monitor
// also sets the health name kWritesHealthName and metad_writes_durable.
#ifndef METAD_DAEMON_HTTP_WRITES_HEALTH_H_
#define METAD_DAEMON_HTTP_WRITES_HEALTH_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace metad::daemon {

// The grpc.health.v1 service name that is NOT_SERVING while no write can be
// made durable (a synchronous standby missing, a read-only node), while ""
// and the metad.v1 services stay SERVING for reads.
inline constexpr char kWritesHealthName[] = "metad.v1.writes";

class WritesHealth {
 public:
  struct State {
    bool durable = true;
    std::string reason = "ok";  // DurabilityReason's label
    std::string detail;         // the probe's error, empty when durable
  };
  // True when `durable` changed.
  bool Set(State state) {
    absl::MutexLock lock(&mu_);
    bool changed = state.durable != state_.durable;
    state_ = std::move(state);
    return changed;
  }
  State Get() const {
    absl::MutexLock lock(&mu_);
    return state_;
  }

 private:
  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_HTTP_WRITES_HEALTH_H_
