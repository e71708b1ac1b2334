#include "store/commit_guard.h"

#include <cstring>

#include "common/log.h"

namespace metad::store {

CommitWatchdog::~CommitWatchdog() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.Signal();
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

CommitWatchdog::Watch::Watch(CommitWatchdog* dog, absl::Time deadline,
                             pqxx::connection_base* conn, bool* cancel_sent)
    : dog_(dog),
      key_(deadline == absl::InfiniteFuture() ? Key{deadline, 0}
                                              : dog->Arm(deadline, conn)),
      cancel_sent_(cancel_sent) {}

CommitWatchdog::Watch::~Watch() {
  if (key_.second != 0 && dog_->Disarm(key_)) *cancel_sent_ = true;
}

CommitWatchdog::Key CommitWatchdog::Arm(absl::Time deadline,
                                        pqxx::connection_base* conn) {
  absl::MutexLock lock(&mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  const Key key{deadline, next_ticket_++};
  armed_.emplace(key, conn);
  if (deadline < wake_at_) wake_.Signal();
  return key;
}

bool CommitWatchdog::Disarm(const Key& key) {
  absl::MutexLock lock(&mu_);
  if (armed_.erase(key) == 1) return false;
  // Fired, or firing: the cancel request must be out before the caller
  // may touch (or close) the connection again.
  auto done = [this, &key]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return firing_ != key.second;
  };
  mu_.Await(absl::Condition(&done));
  return true;
}

void CommitWatchdog::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    const absl::Time now = absl::Now();
    if (armed_.empty() || armed_.begin()->first.first > now) {
      wake_at_ =
          armed_.empty() ? absl::InfiniteFuture() : armed_.begin()->first.first;
      wake_.WaitWithDeadline(&mu_, wake_at_);
      wake_at_ = absl::InfiniteFuture();
      continue;
    }
    auto it = armed_.begin();
    const uint64_t ticket = it->first.second;
    pqxx::connection_base* conn = it->second;
    armed_.erase(it);
    firing_ = ticket;
    // Outside the lock: PQcancel opens a connection to the server, and
    // other commits must not wait for it. The owner waits in Disarm.
    mu_.Unlock();
    try {
      // PQgetCancel reads only what the connection learnt when it opened,
      // and PQcancel is safe beside the thread that uses the connection.
      conn->cancel_query();
    } catch (const std::exception& e) {
      log::Warn("commit_cancel_failed", {{"error", e.what()}});
    }
    mu_.Lock();
    firing_ = 0;
  }
}

bool ReplicationNotices::operator()(const char msg[]) noexcept {
  if (std::strstr(msg, "synchronous replication") != nullptr ||
      std::strstr(msg, "might not have been replicated") != nullptr) {
    unconfirmed_ = true;
  }
  return true;
}

}  // namespace metad::store
