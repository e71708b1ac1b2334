#include "daemon/background/monitor.h"

#include "absl/time/clock.h"
#include "common/log.h"
#include "store/durability_probe.h"
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

void Monitor::UpdateWrites(bool database_up) {
  // A write's commit is cancelled at its deadline; the probe's deadline
  // leaves the commit watchdog room to do so.
  constexpr absl::Duration kProbeTimeout = absl::Seconds(2);
  absl::Status probe =
      database_up ? store::ProbeDurableWrite(db_, kProbeTimeout)
                  : absl::UnavailableError("the database does not answer");
  WritesHealth::State state;
  state.durable = probe.ok();
  state.reason = store::DurabilityReason(probe);
  state.detail = std::string(probe.message());
  if (metrics_ != nullptr) {
    metrics_->RecordWritesDurable(state.durable, state.reason);
  }
  const std::string reason = state.reason;
  if (!writes_->Set(std::move(state))) return;
  if (set_writes_serving_) set_writes_serving_(probe.ok());
  if (probe.ok()) {
    log::Info("writes_durable_again");
  } else {
    log::Warn("writes_not_durable",
              {{"reason", reason}, {"error", probe.message()}});
  }
}

void Monitor::Loop() {
  store::StateCountStore stats(db_);
  bool serving = true;
  absl::Time next_state = absl::Now();
  absl::Time next_probe = absl::Now();
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
    if (writes_ != nullptr && absl::Now() >= next_probe) {
      UpdateWrites(up);
      next_probe = absl::Now() + absl::Seconds(1);
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
