#include "daemon/lease_reaper.h"

namespace metad::daemon {

LeaseReaper::LeaseReaper(store::Database* db, absl::Duration interval)
    : db_(db), interval_(interval) {}

LeaseReaper::~LeaseReaper() { Stop(); }

void LeaseReaper::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) SweepOnce();
  });
}

void LeaseReaper::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

int LeaseReaper::SweepOnce() { return 0; }

}  // namespace metad::daemon
