#include "daemon/background/monitor.h"

#include "absl/time/clock.h"
#include "common/log.h"
#include "store/state_count_store.h"

namespace metad::daemon {

Monitor::Monitor(store::Database* db, Metrics* metrics,
                 std::function<void(bool)> set_serving,
                 absl::Duration state_interval)
    : db_(db),
      metrics_(metrics),
      set_serving_(std::move(set_serving)),
      state_interval_(state_interval) {}

Monitor::~Monitor() { Stop(); }

void Monitor::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Monitor::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void Monitor::Loop() {
  store::StateCountStore stats(db_);
  bool serving = true;
  absl::Time next_state = absl::Now();
  // Ping every 250 ms: health turns back to SERVING promptly once the
  // database answers again.
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(250))) {
    bool up = db_->Ping(absl::Seconds(2)).ok();
    if (up != serving) {
      serving = up;
      set_serving_(up);
      if (up) {
        log::Info("database_back");
      } else {
        log::Warn("database_lost");
      }
    }
    if (metrics_ == nullptr) continue;
    metrics_->RecordDatabaseUp(up);
    metrics_->RecordPool(db_->Stats());
    if (up && absl::Now() >= next_state) {
      next_state = absl::Now() + state_interval_;
      store::TxOptions options;
      options.deadline = absl::Now() + absl::Seconds(10);
      auto counts = stats.CountState(options);
      if (counts.ok()) {
        metrics_->RecordState(*counts);
      } else {
        log::Warn("state_metrics_failed",
                  {{"error", counts.status().message()}});
      }
    }
  }
}

}  // namespace metad::daemon
