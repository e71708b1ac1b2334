#include "daemon/background/deadline_checker.h"

#include <exception>

#include "absl/time/clock.h"
#include "common/log.h"

namespace metad::daemon {
namespace {

// Bounds a check's transaction, so a hung database cannot hold Stop().
constexpr absl::Duration kTxTimeout = absl::Seconds(30);

}  // namespace

DeadlineChecker::DeadlineChecker(
    store::Database* db, absl::Duration interval,
    std::function<void(const store::AlertCounts&)> on_recorded)
    : store_(db), interval_(interval), on_recorded_(std::move(on_recorded)) {}

DeadlineChecker::~DeadlineChecker() { Stop(); }

void DeadlineChecker::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) CheckOnce();
  });
}

void DeadlineChecker::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

store::AlertCounts DeadlineChecker::CheckOnce() {
  store::AlertCounts counts;
  try {
    store::TxOptions options;
    options.deadline = absl::Now() + kTxTimeout;
    absl::StatusOr<store::AlertCounts> recorded =
        store_.RecordAlerts(options, kLookbackSeconds);
    if (!recorded.ok()) {
      if (!failing_.exchange(true)) {
        log::Warn("deadline_check_failing",
                  {{"code", absl::StatusCodeToString(recorded.status().code())},
                   {"error", recorded.status().message()}});
      }
      return counts;
    }
    if (failing_.exchange(false)) log::Info("deadline_check_recovered");
    counts = *recorded;
  } catch (const std::exception& e) {
    // A last guard: the checker thread never takes the daemon down.
    if (!failing_.exchange(true)) {
      log::Warn("deadline_check_failing", {{"error", e.what()}});
    }
    return counts;
  }
  if (counts.deadline_missed > 0 || counts.stale > 0) {
    log::Info("alerts_recorded", {{"deadline_missed", counts.deadline_missed},
                                  {"stale", counts.stale}});
    if (on_recorded_) on_recorded_(counts);
  }
  return counts;
}

}  // namespace metad::daemon
