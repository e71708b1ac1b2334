#include "daemon/background/lease_reaper.h"

#include <algorithm>
#include <exception>

#include "absl/time/clock.h"
#include "common/log.h"
#include "store/lease_clock.h"

namespace metad::daemon {
namespace {

// Runs looked up per round, and rounds per sweep: a backlog is worked off
// over several sweeps instead of one long one.
constexpr int32_t kRunsPerRound = 100;
constexpr int kMaxRoundsPerSweep = 10;
// Per-run failures (other than the database being away) tolerated in a
// round before the sweep gives up until next time.
constexpr int kMaxFailuresPerRound = 3;
// Bounds every transaction of a sweep, so a hung database cannot hold the
// reaper (or Stop()) forever.
constexpr absl::Duration kTxTimeout = absl::Seconds(30);
// The lease clock is stale (the database was away) when a tick is older
// than three sweeps, and never sooner than this: a busy machine's late
// sweep is not an outage (a false one only delays expiry by the gap).
constexpr absl::Duration kMinStaleAfter = absl::Seconds(3);

bool DatabaseAway(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kResourceExhausted;
}

}  // namespace

absl::Duration LeaseReaper::StaleAfter(absl::Duration interval) {
  return std::max(3 * interval, kMinStaleAfter);
}

LeaseReaper::LeaseReaper(store::Database* db, absl::Duration interval)
    : db_(db), store_(db), interval_(interval) {}

LeaseReaper::~LeaseReaper() { Stop(); }

void LeaseReaper::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) {
      if (SweepOnce() > 0 && on_expired_) on_expired_();
    }
  });
}

void LeaseReaper::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void LeaseReaper::NoteFailure(const absl::Status& status) {
  if (!failing_.exchange(true)) {
    log::Warn("lease_reaper_failing",
              {{"code", absl::StatusCodeToString(status.code())},
               {"error", status.message()}});
  }
}

void LeaseReaper::NoteSuccess() {
  if (failing_.exchange(false)) log::Info("lease_reaper_recovered");
}

int LeaseReaper::SweepOnce() {
  int ended = 0;
  try {
    for (int round = 0; round < kMaxRoundsPerSweep; ++round) {
      store::TxOptions options;
      options.deadline = absl::Now() + kTxTimeout;
      // Before anything is found lapsed: leases owed time the database was
      // away get it back (store/lease_clock.h).
      absl::StatusOr<store::LeaseCatchUp> caught =
          store::TickLeaseClock(db_, options, StaleAfter(interval_));
      if (!caught.ok()) {
        NoteFailure(caught.status());
        return ended;
      }
      if (caught->busy) return ended;  // another daemon is catching up
      if (caught->gap > absl::ZeroDuration()) {
        leases_extended_.fetch_add(caught->extended);
        if (on_extended_) on_extended_(caught->extended);
      }
      options.deadline = absl::Now() + kTxTimeout;
      absl::StatusOr<std::vector<int64_t>> lapsed =
          store_.FindLapsedRuns(options, kRunsPerRound);
      if (!lapsed.ok()) {
        NoteFailure(lapsed.status());
        return ended;
      }
      int failures = 0;
      for (int64_t run_id : *lapsed) {
        if (stop_.HasBeenNotified()) return ended;
        options.deadline = absl::Now() + kTxTimeout;
        absl::StatusOr<std::optional<store::ExpiredRun>> expired =
            store_.ExpireRun(options, run_id);
        if (!expired.ok()) {
          NoteFailure(expired.status());
          log::Warn(
              "lease_expiry_failed",
              {{"run_id", run_id}, {"error", expired.status().message()}});
          if (DatabaseAway(expired.status()) ||
              ++failures >= kMaxFailuresPerRound) {
            return ended;
          }
          continue;
        }
        if (!expired->has_value()) continue;  // finished, extended or taken
        const store::ExpiredRun& run = **expired;
        ++ended;
        log::Info("lease_expired", {{"run_id", run.run_id},
                                    {"task", run.task_name},
                                    {"batch_id", run.batch_id},
                                    {"files_released", run.files_released}});
      }
      if (failures == 0) NoteSuccess();
      if (static_cast<int32_t>(lapsed->size()) < kRunsPerRound) break;
    }
  } catch (const std::exception& e) {
    // The store maps database exceptions to statuses; this is a last guard
    // so that the reaper thread never takes the daemon down.
    NoteFailure(absl::InternalError(e.what()));
  }
  return ended;
}

}  // namespace metad::daemon
