#include "daemon/background/event_hub.h"

#include <algorithm>

namespace metad::daemon {
namespace {

using store::EventTable;

int TableIndex(EventTable table) {
  return table == EventTable::kFileEvents ? 0 : 1;
}

}  // namespace

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

}  // namespace metad::daemon
