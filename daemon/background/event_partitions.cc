#include "daemon/background/event_partitions.h"

#include <exception>

#include "absl/time/clock.h"
#include "common/log.h"

namespace metad::daemon {

EventPartitioner::EventPartitioner(store::Database* db, absl::Duration interval)
    : store_(db), interval_(interval) {}

EventPartitioner::~EventPartitioner() { Stop(); }

void EventPartitioner::Start() {
  thread_ = std::thread([this] {
    do {
      RunOnce();
    } while (!stop_.WaitForNotificationWithTimeout(interval_));
  });
}

void EventPartitioner::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void EventPartitioner::RunOnce() {
  try {
    store::TxOptions tx;
    tx.deadline = absl::Now() + absl::Seconds(30);
    absl::StatusOr<int> made = store_.EnsurePartitions(tx);
    if (!made.ok()) {
      log::Warn("event_partitions_failed",
                {{"code", absl::StatusCodeToString(made.status().code())},
                 {"error", made.status().message()}});
    } else if (*made > 0) {
      log::Info("event_partitions_created", {{"partitions", *made}});
    }
  } catch (const std::exception& e) {
    // Last guard: this thread never takes the daemon down.
    log::Error("event_partitions_failed", {{"error", e.what()}});
  }
}

}  // namespace metad::daemon
