// What bounds a commit by the call's deadline, and what tells a commit that
// PostgreSQL made locally but no synchronous standby confirmed.
//
// PostgreSQL turns statement_timeout off at commit, so a commit waiting for
// a synchronous standby (synchronous_standby_names) waits as long as none
// answers, whatever the call's deadline. CommitWatchdog sends a cancel
// request (libpq's PQcancel) to a connection whose commit is still in flight
// at the deadline; PostgreSQL then ends the wait and answers the commit with
// a WARNING ("canceling wait for synchronous replication ... already
// committed locally, but might not have been replicated"), which
// ReplicationNotices catches. Either sign makes the outcome unknown.
#ifndef METAD_STORE_COMMIT_GUARD_H_
#define METAD_STORE_COMMIT_GUARD_H_

#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace metad::store {

// One thread for every connection of a pool, started at the first watch
// and asleep until the earliest deadline armed: a commit pays two mutex
// locks, and a wake-up of the thread only when its deadline is the
// earliest armed.
class CommitWatchdog {
 public:
  CommitWatchdog() = default;
  ~CommitWatchdog();
  CommitWatchdog(const CommitWatchdog&) = delete;
  CommitWatchdog& operator=(const CommitWatchdog&) = delete;

  // Watches `conn` from construction to destruction: if `deadline` passes
  // meanwhile, a cancel request is sent to it (once) and *cancel_sent set
  // true when the watch ends. An infinite deadline costs nothing.
  class Watch {
   public:
    Watch(CommitWatchdog* dog, absl::Time deadline, pqxx::connection_base* conn,
          bool* cancel_sent);
    // Once it returns, no cancel request is sent any more: the connection
    // may be used or closed.
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    CommitWatchdog* const dog_;
    const std::pair<absl::Time, uint64_t> key_;
    bool* const cancel_sent_;
  };

 private:
  using Key = std::pair<absl::Time, uint64_t>;  // (deadline, ticket)
  Key Arm(absl::Time deadline, pqxx::connection_base* conn);
  bool Disarm(const Key& key);  // true if the cancel request was sent
  void Loop();

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::map<Key, pqxx::connection_base*> armed_ ABSL_GUARDED_BY(mu_);
  uint64_t firing_ ABSL_GUARDED_BY(mu_) = 0;  // ticket being cancelled
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  // When the thread wakes up next (InfiniteFuture: when signalled).
  absl::Time wake_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

// Registered on each pooled connection: notes PostgreSQL's warning that a
// commit's wait for synchronous replication was cancelled (by our watchdog,
// pg_cancel_backend, or a shutdown). Matched on the server's English text:
// a server with translated lc_messages is still caught by the watchdog's
// own sign, not by an operator's cancel.
class ReplicationNotices : public pqxx::errorhandler {
 public:
  explicit ReplicationNotices(pqxx::connection_base& conn)
      : pqxx::errorhandler(conn) {}
  bool operator()(const char msg[]) noexcept override;

  void Reset() { unconfirmed_ = false; }
  // Whether such a warning came since Reset().
  bool unconfirmed() const { return unconfirmed_; }

 private:
  bool unconfirmed_ = false;  // the connection's thread only
};

}  // namespace metad::store

#endif  // METAD_STORE_COMMIT_GUARD_H_
