#include "daemon/background/event_listener.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/log.h"

namespace metad::daemon {
namespace {

using store::EventTable;

// The channel daemons notify after writing events (event_notifier.h). A
// payload naming a table wakes that table only; any other (the notifier's
// empty one) wakes both.
constexpr const char* kChannel = store::kEventChannel;
// Notify mode looks anyway this often (a notification can be lost while
// the LISTEN connection is being replaced).
constexpr absl::Duration kSafetyInterval = absl::Seconds(5);
// Longest single wait, so that Stop() and Kick() are noticed.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);
// At most one horizon step per table this often: a burst of commits is
// read in one step.
constexpr absl::Duration kMinStepInterval = absl::Milliseconds(5);
// A pending fence is checked again after 5 ms, then backing off to 200 ms.
constexpr absl::Duration kFenceFirstCheck = absl::Milliseconds(5);
constexpr absl::Duration kFenceMaxCheck = absl::Milliseconds(200);
// Horizon steps in a row for one wake-up (a long catch-up continues on the
// next one).
constexpr int kMaxStepsPerWake = 64;
// How long one horizon step may take.
constexpr absl::Duration kStepTimeout = absl::Seconds(10);
constexpr absl::Duration kFirstConnectBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxConnectBackoff = absl::Seconds(5);

int TableIndex(EventTable table) {
  return table == EventTable::kFileEvents ? 0 : 1;
}
constexpr EventTable kTables[] = {EventTable::kFileEvents,
                                  EventTable::kRunEvents};

}  // namespace

bool ParseWatchMode(absl::string_view text, WatchMode* mode) {
  if (text == "notify") {
    *mode = WatchMode::kNotify;
  } else if (text == "poll") {
    *mode = WatchMode::kPoll;
  } else {
    return false;
  }
  return true;
}

EventListener::EventListener(store::Database* db, WatchOptions options,
                             EventHub* hub)
    : options_(std::move(options)),
      hub_(hub),
      store_(db),
      listener_(db->options().url, kChannel),
      connect_backoff_(kFirstConnectBackoff) {
  for (TableState& t : tables_) t.fence_wait = kFenceFirstCheck;
}

EventListener::~EventListener() { Stop(); }

void EventListener::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void EventListener::Kick() {
  absl::MutexLock lock(&mu_);
  kicked_ = true;
}

void EventListener::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void EventListener::MarkAll() {
  for (TableState& t : tables_) t.dirty = true;
}

void EventListener::MarkPayload(const std::string& payload) {
  for (EventTable table : kTables) {
    if (payload == store::EventTableName(table)) {
      tables_[TableIndex(table)].dirty = true;
      return;
    }
  }
  MarkAll();
}

void EventListener::Loop() {
  next_look_ = absl::Now();
  for (;;) {
    bool kicked = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      std::swap(kicked, kicked_);
    }
    absl::Time now = absl::Now();
    if (options_.mode == WatchMode::kNotify) MaybeListen(now);
    if (kicked) MarkAll();
    if (now >= next_look_) {
      MarkAll();
      next_look_ =
          now + (listener_.connected()
                     ? std::max(kSafetyInterval, options_.poll_interval)
                     : options_.poll_interval);
    }
    const bool active = hub_->streams() > 0;
    absl::Time wake = NextWake(now, active);
    if (wake > now) {
      WaitUntil(now, wake);
    } else if (active) {
      StepDirtyTables(now);
    }
  }
  listener_.Close();
}

void EventListener::MaybeListen(absl::Time now) {
  if (listener_.connected() || now < next_connect_) return;
  if (absl::Status s = listener_.Connect(); !s.ok()) {
    log::Warn("watch_listen_lost",
              {{"stage", "connect"}, {"error", s.message()}});
    next_connect_ = now + connect_backoff_;
    connect_backoff_ = std::min(connect_backoff_ * 2, kMaxConnectBackoff);
    MarkAll();
    return;
  }
  connect_backoff_ = kFirstConnectBackoff;
  MarkAll();  // whatever committed while nobody listened
  log::Info("watch_listening", {{"channel", kChannel}});
}

absl::Time EventListener::NextWake(absl::Time now, bool active) {
  absl::Time wake = next_look_;
  if (!active) return wake;
  for (TableState& t : tables_) {
    if (!t.horizon.fence.empty() && now >= t.fence_due) t.dirty = true;
    if (t.dirty) {
      wake = std::min(wake, t.last_step + kMinStepInterval);
    } else if (!t.horizon.fence.empty()) {
      wake = std::min(wake, t.fence_due);
    }
  }
  return wake;
}

void EventListener::WaitUntil(absl::Time now, absl::Time wake) {
  absl::Duration wait = std::min(wake - now, kWaitSlice);
  if (listener_.connected()) {
    std::vector<std::string> payloads;
    bool missed = false;
    absl::Status s = listener_.Wait(wait, &payloads, &missed);
    for (const std::string& payload : payloads) MarkPayload(payload);
    if (missed) MarkAll();
    if (!s.ok()) {
      log::Warn("watch_listen_lost",
                {{"stage", "wait"}, {"error", s.message()}});
      next_connect_ = absl::Now() + connect_backoff_;
      connect_backoff_ = std::min(connect_backoff_ * 2, kMaxConnectBackoff);
      MarkAll();
    }
    return;
  }
  absl::MutexLock lock(&mu_);
  auto wake_up = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || kicked_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&wake_up), wait);
}

void EventListener::StepDirtyTables(absl::Time now) {
  for (EventTable table : kTables) {
    TableState& t = tables_[TableIndex(table)];
    if (!t.dirty) continue;
    t.dirty = false;
    t.last_step = now;
    std::string fence_before = t.horizon.fence;
    absl::Status failed;
    for (int step = 0; step < kMaxStepsPerWake; ++step) {
      store::TxOptions options;
      options.deadline = absl::Now() + kStepTimeout;
      absl::StatusOr<bool> more =
          store_.AdvanceHorizon(table, options, &t.horizon);
      if (!more.ok()) {
        failed = more.status();
        break;
      }
      if (!*more) break;
      if (step + 1 == kMaxStepsPerWake) t.dirty = true;  // continue soon
    }
    if (!failed.ok()) {
      // The database is down or busy: try again at the next look, soon.
      if (!reported_error_) {
        log::Warn("watch_horizon_failed",
                  {{"table", store::EventTableName(table)},
                   {"error", failed.message()}});
        reported_error_ = true;
      }
      next_look_ = std::min(next_look_, absl::Now() + absl::Seconds(1));
    } else {
      reported_error_ = false;
    }
    hub_->Publish(table, t.horizon.settled);
    if (t.horizon.fence.empty()) {
      t.fence_due = absl::InfiniteFuture();
    } else {
      t.fence_wait = t.horizon.fence != fence_before
                         ? kFenceFirstCheck
                         : std::min(t.fence_wait * 2, kFenceMaxCheck);
      t.fence_due = absl::Now() + t.fence_wait;
    }
  }
}

}  // namespace metad::daemon
