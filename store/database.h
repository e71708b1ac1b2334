// The connection pool and the transaction runner: the one place where
// libpqxx exceptions become absl::Status.
#ifndef METAD_STORE_DATABASE_H_
#define METAD_STORE_DATABASE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/commit_guard.h"
#include "store/sql.h"
#include "store/timeline_fence.h"

namespace metad::store {

// Per-call limits that the caller (an RPC) imposes on its transaction.
struct TxOptions {
  // The SQL of the transaction is bounded by this (statement_timeout), and a
  // pool wait never outlasts it; so is a COMMIT that waits for a synchronous
  // standby (by a cancel request, see commit_guard.h). InfiniteFuture for
  // none.
  absl::Time deadline = absl::InfiniteFuture();
  // Asked before COMMIT: if it returns true the transaction is rolled back
  // and CANCELLED returned (the caller went away).
  std::function<bool()> cancelled;
  // Who the changes are for: the actor every event row written in the
  // transaction records (the `metad.actor` setting that the event tables'
  // actor columns default to). Empty: none.
  std::string actor;
  // The call has no side effects (a Get, a List): a read pool, when there
  // is one (Database::SetReadPool), may serve it. Such transactions must
  // not write.
  bool read = false;
  // Read-your-writes for a read: a standby serves it only once it has
  // replayed the WAL up to this position (a write's commit position, see
  // Database::CommitPosition), else the primary does. 0: any standby.
  uint64_t min_position = 0;
};

struct DatabaseOptions {
  // libpq connection string or URL. Never logged with its password.
  std::string url;
  // Connections kept open at most.
  int pool_size = 8;
  // How long a caller waits for a free connection before RESOURCE_EXHAUSTED.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // Attempts of a transaction that fails with a serialization failure or a
  // deadlock (SQLSTATE 40001, 40P01) before ABORTED.
  int max_attempts = 8;
};

struct PoolStats {
  int open = 0;         // connections open
  int in_use = 0;       // connections lent out
  int waiting = 0;      // callers waiting for one
  int64_t retries = 0;  // transaction attempts retried since start
  // Read transactions (TxOptions::read), counted only with a read pool:
  // served by a standby; by the read pool's server while it was a primary
  // (a prefer-standby URL that found no standby); by the primary because
  // the standby had not replayed the caller's position yet, or because
  // the read pool could not be reached.
  int64_t reads_standby = 0;
  int64_t reads_read_pool_primary = 0;
  int64_t reads_primary_lagging = 0;
  int64_t reads_primary_unreachable = 0;
};

class Database {
 public:
  // Does not connect: connections are opened on demand, so the daemon can
  // start (and report NOT_SERVING) while the database is down.
  explicit Database(DatabaseOptions options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `body` in one READ COMMITTED transaction and commits if it returns
  // OK; any other status rolls back and is returned as is. Retries the whole
  // body on serialization failure and deadlock, so `body` must have no side
  // effects outside the transaction (it may run several times).
  // Returns, besides body's own statuses:
  //   UNAVAILABLE        database unreachable or the connection broke; the
  //                      database is read-only (a standby: SQLSTATE 25006,
  //                      the connection is replaced); or the outcome is
  //                      unknown: the connection broke during COMMIT, or
  //                      COMMIT was made on the primary but not confirmed
  //                      by a synchronous standby before the deadline;
  //   RESOURCE_EXHAUSTED no pooled connection free within acquire_timeout;
  //   DEADLINE_EXCEEDED  the deadline passed (statement_timeout fired);
  //   ABORTED            still conflicting after max_attempts;
  //   CANCELLED          options.cancelled() said so before commit;
  //   INVALID_ARGUMENT   the database rejected a value (SQLSTATE class 22);
  //   INTERNAL           anything else (logged, never with SQL in the status).
  // `name` labels the transaction in logs.
  absl::Status Transact(const char* name, const TxOptions& options,
                        absl::FunctionRef<absl::Status(Tx&)> body);

  // Runs `body`, which sends exactly one statement (a server-side function
  // that makes the whole change), outside an explicit transaction: the
  // statement is its own transaction, one round trip instead of BEGIN,
  // statement_timeout, statement, COMMIT. The statement_timeout is the
  // connection's own, changed only when the deadline needs another, so it
  // may stop the statement up to 10% of the remaining time early.
  // Statuses and retries as Transact's, with two differences: cancelled()
  // is asked before the statement (nothing can be rolled back after it),
  // and a connection that breaks during the statement is not retried (it
  // may have committed): UNAVAILABLE, outcome unknown. A statement that
  // committed but whose wait for a synchronous standby was cancelled
  // answers UNAVAILABLE too, whatever `body` returned.
  absl::Status Autocommit(const char* name, const TxOptions& options,
                          absl::FunctionRef<absl::Status(AutoTx&)> body);

  // Sends transactions with TxOptions::read to `reader` (a pool on a
  // standby, not owned, outliving this one) when it can serve them: it is
  // reachable and has replayed options.min_position. Otherwise this pool
  // serves them, so a standby that is down or behind costs no read. After
  // a failure to reach it, reads stay here for kReadPoolRetry before it is
  // tried again. Also starts taking each commit's position (one more
  // round trip after each COMMIT). Call before any transaction runs.
  void SetReadPool(Database* reader);
  static constexpr absl::Duration kReadPoolRetry = absl::Seconds(1);

  // With a read pool: the highest WAL position read right after a commit
  // made through this pool, a decimal byte offset (0 before any). Read
  // after a call's commit returned, it is at or past that commit, so a
  // standby that has replayed up to it shows the call's changes.
  uint64_t CommitPosition() const {
    return commit_position_.load(std::memory_order_acquire);
  }

  // Keeps the timeline fence's memory in `path` across restarts
  // (--fence_state_file, store/fence_state.h). Call before any
  // transaction runs. INVALID_ARGUMENT if the file cannot be read.
  absl::Status UseFenceStateFile(const std::string& path) {
    return fence_.UseStateFile(path);
  }

  // Runs `SELECT 1` on a pooled connection.
  absl::Status Ping(absl::Duration timeout = absl::Seconds(2));

  PoolStats Stats() const;
  const DatabaseOptions& options() const { return options_; }

 private:
  struct Slot;
  absl::StatusOr<Slot*> Acquire(absl::Time deadline);
  void Release(Slot* slot, bool broken);
  // Runs `attempt` on a pooled, connected slot, retrying as Transact
  // documents. `attempt` sets *sent once a statement that may commit has
  // gone out.
  absl::Status Run(const char* name, const TxOptions& options,
                   absl::FunctionRef<absl::Status(Slot*, bool* sent)> attempt);
  absl::Status RunOnce(const char* name, Slot* slot, const TxOptions& options,
                       absl::FunctionRef<absl::Status(Tx&)> body);
  absl::Status RunAutocommit(const char* name, Slot* slot,
                             const TxOptions& options,
                             absl::FunctionRef<absl::Status(AutoTx&)> body,
                             bool* sent);
  // Opens the slot's connection if it has none, or if the server closed it
  // while it sat idle (a restart): it is found here, before a statement is
  // sent, rather than by the statement. True if it opened one.
  bool Connect(Slot* slot);
  // A new connection to a server the fence admits (timeline_fence.h);
  // throws pqxx::broken_connection when none of the URL's hosts is.
  std::unique_ptr<pqxx::connection> OpenAdmitted();
  // The identity of every host of a multi-host URL that answers within
  // kPeerWait, read in parallel (each connection bounded by the URL's
  // connect_timeout, else 2 s); reused for kPeerReuse, so a burst of new
  // connections after a failover reads them once.
  std::vector<ServerIdentity> PeerIdentities();
  static constexpr absl::Duration kPeerWait = absl::Milliseconds(500);
  static constexpr absl::Duration kPeerReuse = absl::Seconds(2);
  void Disconnect(Slot* slot);
  // After a commit (read pool set): remembers the server's WAL insert
  // position. A failure is logged, not returned: the commit stands.
  void TakeCommitPosition(const char* name, Slot* slot);
  // On this pool as a read pool: runs a read if this server can serve it.
  // False (nothing run) if it is unreachable or behind min_position.
  bool TryRead(const char* name, const TxOptions& options,
               absl::FunctionRef<absl::Status(Tx&)> body, absl::Status* out,
               bool* lagging);

  const DatabaseOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<Slot*> idle_ ABSL_GUARDED_BY(mu_);
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> retries_{0};
  std::atomic<int> open_{0};
  Database* reader_ = nullptr;  // SetReadPool
  std::atomic<uint64_t> commit_position_{0};
  // As a read pool: not tried before this time (it could not be reached).
  std::atomic<int64_t> down_until_ns_{0};
  std::atomic<int64_t> reads_standby_{0}, reads_read_pool_primary_{0},
      reads_primary_lagging_{0}, reads_primary_unreachable_{0};
  TimelineFence fence_;
  const std::vector<std::string> hosts_;  // PerHostConnectionStrings(url)
  absl::Mutex peers_mu_;  // held while reading them: one reader at a time
  std::vector<ServerIdentity> peers_ ABSL_GUARDED_BY(peers_mu_);
  absl::Time peers_read_ ABSL_GUARDED_BY(peers_mu_) = absl::InfinitePast();
  // Declared last: destroyed first, while the connections it may cancel
  // still exist (none is armed then anyway: no call runs).
  CommitWatchdog watchdog_;
};

// Masks the password of a libpq URL or key=value string for logs.
std::string RedactDatabaseUrl(const std::string& url);

}  // namespace metad::store

#endif  // METAD_STORE_DATABASE_H_
