#include "daemon/event_listener.h"

#include <algorithm>
#include <memory>
#include <pqxx/pqxx>

#include "absl/time/clock.h"
#include "store/log.h"

namespace metad::daemon {
namespace {

using store::EventTable;

// The channel daemons notify after writing events (daemon/event_notifier.h).
// A payload naming a table wakes that table only; any other (the
// notifier's empty one) wakes both.
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

int TableIndex(EventTable table) {
  return table == EventTable::kFileEvents ? 0 : 1;
}
constexpr EventTable kTables[] = {EventTable::kFileEvents,
                                  EventTable::kRunEvents};

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn,
           std::function<void(const std::string&)> on_payload)
      : pqxx::notification_receiver(conn, kChannel),
        on_payload_(std::move(on_payload)) {}
  void operator()(const std::string& payload, int) override {
    on_payload_(payload);
  }

 private:
  std::function<void(const std::string&)> on_payload_;
};

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

// ---- EventHub ----

EventHub::EventHub(int max_streams) : max_streams_(max_streams) {}

bool EventHub::Attach() {
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down() || streams_ >= max_streams_) return false;
    first = streams_++ == 0;
  }
  if (first && on_first_) on_first_();
  return true;
}

void EventHub::Detach() {
  absl::MutexLock lock(&mu_);
  --streams_;
}

int EventHub::streams() const {
  absl::MutexLock lock(&mu_);
  return streams_;
}

int64_t EventHub::horizon(EventTable table) const {
  return horizon_[TableIndex(table)].load(std::memory_order_acquire);
}

bool EventHub::WaitBeyond(EventTable table, int64_t cursor,
                          EventWaiter* waiter) {
  absl::MutexLock lock(&mu_);
  if (shutting_down() || waiter->Cancelled() || horizon(table) > cursor) {
    return false;
  }
  waiting_.push_back(Waiting{table, cursor, waiter});
  return true;
}

bool EventHub::Cancel(EventWaiter* waiter) {
  absl::MutexLock lock(&mu_);
  auto it =
      std::find_if(waiting_.begin(), waiting_.end(),
                   [waiter](const Waiting& w) { return w.waiter == waiter; });
  if (it == waiting_.end()) return false;
  waiting_.erase(it);
  return true;
}

void EventHub::Publish(EventTable table, int64_t settled) {
  absl::MutexLock lock(&mu_);
  std::atomic<int64_t>& h = horizon_[TableIndex(table)];
  if (settled <= h.load(std::memory_order_relaxed)) return;
  h.store(settled, std::memory_order_release);
  // Waiters are called under the lock, so that Cancel() returning false
  // means the call back has happened.
  auto passed = [table, settled](const Waiting& w) {
    return w.table == table && w.cursor < settled;
  };
  for (const Waiting& w : waiting_) {
    if (passed(w)) w.waiter->OnHorizon();
  }
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), passed),
                 waiting_.end());
}

void EventHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_.store(true, std::memory_order_release);
  for (const Waiting& w : waiting_) w.waiter->OnHorizon();
  waiting_.clear();
}

// ---- EventListener ----

EventListener::EventListener(store::Database* db, WatchOptions options,
                             EventHub* hub)
    : db_(db), options_(std::move(options)), hub_(hub) {}

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

void EventListener::Loop() {
  struct TableState {
    store::Horizon horizon;
    bool dirty = true;
    absl::Time last_step = absl::InfinitePast();
    absl::Time fence_due = absl::InfiniteFuture();
    absl::Duration fence_wait = kFenceFirstCheck;
  };
  store::WatchStore store(db_);
  TableState tables[2];
  auto mark_all = [&tables] {
    for (TableState& t : tables) t.dirty = true;
  };
  const bool notify = options_.mode == WatchMode::kNotify;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;
  int backend_pid = 0;
  absl::Time next_connect = absl::InfinitePast();
  absl::Duration connect_backoff = absl::Milliseconds(100);
  absl::Time next_look = absl::Now();
  bool reported_error = false;
  auto drop_connection = [&](const char* why, const std::exception& e) {
    log::Warn("watch_listen_lost", {{"stage", why}, {"error", e.what()}});
    receiver.reset();  // before its connection
    conn.reset();
    next_connect = absl::Now() + connect_backoff;
    connect_backoff = std::min(connect_backoff * 2, absl::Seconds(5));
    mark_all();
  };

  for (;;) {
    bool kicked = false;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      std::swap(kicked, kicked_);
    }
    absl::Time now = absl::Now();
    if (notify && conn == nullptr && now >= next_connect) {
      try {
        conn = std::make_unique<pqxx::connection>(db_->options().url);
        receiver = std::make_unique<Receiver>(
            *conn, [&tables](const std::string& payload) {
              if (payload == store::EventTableName(EventTable::kFileEvents)) {
                tables[0].dirty = true;
              } else if (payload ==
                         store::EventTableName(EventTable::kRunEvents)) {
                tables[1].dirty = true;
              } else {
                for (TableState& t : tables) t.dirty = true;
              }
            });
        backend_pid = conn->backendpid();
        connect_backoff = absl::Milliseconds(100);
        mark_all();  // whatever committed while nobody listened
        log::Info("watch_listening", {{"channel", kChannel}});
      } catch (const std::exception& e) {
        drop_connection("connect", e);
      }
    }
    const bool listening = conn != nullptr;
    const bool active = hub_->streams() > 0;
    if (kicked) mark_all();
    if (now >= next_look) {
      mark_all();
      next_look =
          now + (listening ? std::max(kSafetyInterval, options_.poll_interval)
                           : options_.poll_interval);
    }

    // When to step next: dirty tables (no more often than kMinStepInterval),
    // due fence checks, the next look. Nothing while no stream is open.
    absl::Time wake = next_look;
    if (active) {
      for (TableState& t : tables) {
        if (!t.horizon.fence.empty() && now >= t.fence_due) t.dirty = true;
        if (t.dirty) {
          wake = std::min(wake, t.last_step + kMinStepInterval);
        } else if (!t.horizon.fence.empty()) {
          wake = std::min(wake, t.fence_due);
        }
      }
    }
    if (wake > now) {
      absl::Duration wait = std::min(wake - now, kWaitSlice);
      if (listening) {
        try {
          int64_t us = absl::ToInt64Microseconds(wait);
          conn->await_notification(us / 1000000, us % 1000000);
          if (conn->backendpid() != backend_pid) {  // libpqxx reconnected
            backend_pid = conn->backendpid();
            mark_all();
          }
        } catch (const std::exception& e) {
          drop_connection("wait", e);
        }
      } else {
        absl::MutexLock lock(&mu_);
        auto wake_up = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || kicked_;
        };
        mu_.AwaitWithTimeout(absl::Condition(&wake_up), wait);
      }
      continue;
    }
    if (!active) continue;

    for (EventTable table : kTables) {
      TableState& t = tables[TableIndex(table)];
      if (!t.dirty) continue;
      t.dirty = false;
      t.last_step = now;
      std::string fence_before = t.horizon.fence;
      absl::Status failed;
      for (int step = 0; step < kMaxStepsPerWake; ++step) {
        store::TxOptions options;
        options.deadline = absl::Now() + kStepTimeout;
        absl::StatusOr<bool> more =
            store.AdvanceHorizon(table, options, &t.horizon);
        if (!more.ok()) {
          failed = more.status();
          break;
        }
        if (!*more) break;
        if (step + 1 == kMaxStepsPerWake) t.dirty = true;  // continue soon
      }
      if (!failed.ok()) {
        // The database is down or busy: try again at the next look, soon.
        if (!reported_error) {
          log::Warn("watch_horizon_failed",
                    {{"table", store::EventTableName(table)},
                     {"error", failed.message()}});
          reported_error = true;
        }
        next_look = std::min(next_look, absl::Now() + absl::Seconds(1));
      } else {
        reported_error = false;
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
  receiver.reset();
  conn.reset();
}

}  // namespace metad::daemon
