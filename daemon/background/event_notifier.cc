#include "daemon/background/event_notifier.h"

#include "absl/time/clock.h"
#include "common/log.h"

namespace metad::daemon {
namespace {
// A NOTIFY that cannot be sent within this is dropped: listeners look on
// their own every few seconds anyway.
constexpr absl::Duration kSendTimeout = absl::Seconds(1);
}  // namespace

EventNotifier::EventNotifier(store::WatchStore* store, bool send_notify,
                             std::function<void()> wake_local,
                             absl::Duration min_interval)
    : store_(store),
      send_notify_(send_notify),
      wake_local_(std::move(wake_local)),
      min_interval_(min_interval) {
  if (send_notify_) thread_ = std::thread([this] { Loop(); });
}

EventNotifier::~EventNotifier() { Stop(); }

void EventNotifier::Written() {
  if (wake_local_) wake_local_();
  if (!send_notify_) return;
  // Calls still finishing while the daemon drains may get here after
  // Stop(): nothing is sent for them (listeners look on their own).
  absl::MutexLock lock(&mu_);
  if (!stopping_) pending_ = true;
}

void EventNotifier::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // joined (or joining) already
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void EventNotifier::Loop() {
  bool failing = false;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return pending_ || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (!pending_) return;  // stopping with nothing to send
      pending_ = false;
    }
    // Everything Written() before this point committed before the NOTIFY's
    // transaction starts, so a woken listener finds it.
    store::TxOptions options;
    options.deadline = absl::Now() + kSendTimeout;
    absl::Status status = store_->Notify(options);
    if (!status.ok() && !failing) {
      log::Warn("watch_notify_failed", {{"error", status.message()}});
    }
    failing = !status.ok();
    absl::Time next = absl::Now() + min_interval_;
    absl::MutexLock lock(&mu_);
    // Writes during the pause share the next NOTIFY.
    auto stop = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithDeadline(absl::Condition(&stop), next);
  }
}

}  // namespace metad::daemon
