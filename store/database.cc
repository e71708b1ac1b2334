#include "store/database.h"

#include <poll.h>

#include <algorithm>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <regex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "store/error_mapping.h"
#include "store/queries/database.sql.h"

namespace metad::store {

struct Database::Slot {
  // Null until first use and after the connection broke.
  std::unique_ptr<pqxx::connection> conn;
  // The connection's session statement_timeout (0: none), which Autocommit
  // sets and transactions override locally.
  int64_t session_timeout_ms = 0;
  // Registered on conn, so declared after it (destroyed before it).
  std::unique_ptr<ReplicationNotices> notices;
  // The commit watchdog sent the connection a cancel request: it may still
  // land on a later statement, so the connection is not reused.
  bool cancel_sent = false;
  // Read pools only: whether the server was asked what it is (once per
  // connection), whether it is a standby, and the WAL position it had
  // replayed when last asked (replay only grows, so it is a lower bound).
  bool probed = false;
  bool standby = false;
  uint64_t replayed = 0;
};

namespace {

// Whether a session statement_timeout of `have` ms can bound a statement
// that has `want` ms left (0: no deadline): never later than the deadline,
// and at most 10% earlier.
bool TimeoutFits(int64_t have, int64_t want) {
  if (want == 0) return have == 0;
  return have > 0 && have <= want && have * 10 >= want * 9;
}

// Whether the server closed an idle connection (it sends a FATAL notice,
// then EOF, when it shuts down or terminates the backend): an idle pooled
// connection has nothing to read otherwise.
bool ClosedWhileIdle(const pqxx::connection& conn) {
  const int fd = conn.sock();
  if (fd < 0) return true;
  pollfd pfd{fd, POLLIN, 0};
  return poll(&pfd, 1, 0) != 0;
}

// The milliseconds left before `options.deadline` (0: no deadline), or
// DEADLINE_EXCEEDED when none are.
absl::StatusOr<int64_t> RemainingMs(const TxOptions& options) {
  if (options.deadline == absl::InfiniteFuture()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(options.deadline - absl::Now());
  if (ms <= 0) return absl::DeadlineExceededError("the call's deadline passed");
  return ms;
}

// The answer to a write that committed on this server but whose wait for a
// synchronous standby ended early (the deadline's cancel request, an
// operator's): it may be lost if this server fails now.
absl::Status UnconfirmedCommit(const char* name) {
  log::Error("tx_unconfirmed", {{"tx", name}});
  return absl::UnavailableError(
      "the change was committed on the primary but not confirmed by a "
      "synchronous standby before the deadline, so its outcome is unknown; "
      "retry with the same request_id");
}

// When the commit watchdog cancels a commit still waiting: a tenth of the
// time left (at most 1 s) before the deadline, so that the answer reaches
// the caller before its deadline does.
absl::Time CommitCancelTime(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return deadline;
  const absl::Duration left = deadline - absl::Now();
  return deadline - std::min(left / 10, absl::Seconds(1));
}

// A position as the queries in database.sql give it (decimal text); 0 when
// NULL or unreadable.
uint64_t PositionOf(const pqxx::field& field) {
  uint64_t position = 0;
  if (field.is_null() || !absl::SimpleAtoi(field.c_str(), &position)) return 0;
  return position;
}

absl::Duration Backoff(int attempt) {
  // Jittered exponential backoff: 1-2 ms, 2-4 ms, ... capped at 100 ms.
  thread_local std::mt19937 rng{std::random_device{}()};
  int64_t base_us = std::min<int64_t>(1000LL << std::min(attempt, 7), 100000);
  std::uniform_int_distribution<int64_t> jitter(0, base_us);
  return absl::Microseconds(base_us + jitter(rng));
}

}  // namespace

Database::Database(DatabaseOptions options)
    : options_(std::move(options)),
      hosts_(PerHostConnectionStrings(options_.url)) {}

Database::~Database() = default;

absl::StatusOr<Database::Slot*> Database::Acquire(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  ++waiting_;
  auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() ||
           static_cast<int>(slots_.size()) < options_.pool_size;
  };
  bool ok = mu_.AwaitWithDeadline(absl::Condition(&available), deadline);
  --waiting_;
  if (!ok) {
    return absl::ResourceExhaustedError(
        "all database connections are busy; retry later");
  }
  if (!idle_.empty()) {
    Slot* slot = idle_.back();
    idle_.pop_back();
    return slot;
  }
  slots_.push_back(std::make_unique<Slot>());
  return slots_.back().get();
}

void Database::Disconnect(Slot* slot) {
  slot->cancel_sent = false;
  slot->probed = false;
  if (slot->conn == nullptr) return;
  slot->notices.reset();
  slot->conn.reset();  // reconnect on next use
  open_.fetch_sub(1, std::memory_order_relaxed);
}

void Database::Release(Slot* slot, bool broken) {
  if (broken) Disconnect(slot);
  absl::MutexLock lock(&mu_);
  idle_.push_back(slot);
}

namespace {

std::string ServerOf(pqxx::connection& conn) {
  return absl::StrCat(conn.hostname() == nullptr ? "" : conn.hostname(), ":",
                      conn.port() == nullptr ? "" : conn.port());
}

}  // namespace

namespace {

// Looks at the URL's hosts, shared with the threads that make them, which
// may outlive the wait for them (a host that does not answer).
struct PeerLooks {
  absl::Mutex mu;
  std::vector<std::optional<ServerIdentity>> found ABSL_GUARDED_BY(mu);
  size_t done ABSL_GUARDED_BY(mu) = 0;
};

}  // namespace

std::vector<ServerIdentity> Database::PeerIdentities() {
  absl::MutexLock lock(&peers_mu_);
  if (absl::Now() - peers_read_ < kPeerReuse) return peers_;
  auto looks = std::make_shared<PeerLooks>();
  const size_t n = hosts_.size();
  {
    absl::MutexLock l(&looks->mu);
    looks->found.resize(n);
  }
  for (size_t i = 0; i < n; ++i) {
    // Standbys too: a later timeline there betrays a stale primary. A host
    // the URL lists after the primary is never tried by libpq; without a
    // connect_timeout an unreachable one would hang its thread.
    std::string one = hosts_[i] + " target_session_attrs=any";
    if (one.find(" connect_timeout=") == std::string::npos) {
      one += " connect_timeout=2";
    }
    std::thread([looks, i, one = std::move(one)] {
      std::optional<ServerIdentity> identity;
      try {
        pqxx::connection conn(one);
        identity = ReadServerIdentity(conn);
      } catch (const std::exception&) {
        // Down or refusing us: it tells nothing.
      }
      absl::MutexLock l(&looks->mu);
      looks->found[i] = std::move(identity);
      ++looks->done;
    }).detach();
  }
  absl::MutexLock l(&looks->mu);
  auto all_done = [&looks, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(looks->mu) {
    return looks->done == n;
  };
  // A host that does not answer in time (a dead machine whose packets are
  // dropped) tells nothing, as if down: the wait bounds what a failover
  // costs the first connection to the new primary.
  looks->mu.AwaitWithTimeout(absl::Condition(&all_done), kPeerWait);
  peers_.clear();
  for (const auto& one : looks->found) {
    if (one.has_value()) peers_.push_back(*one);
  }
  peers_read_ = absl::Now();
  return peers_;
}

std::unique_ptr<pqxx::connection> Database::OpenAdmitted() {
  auto conn = std::make_unique<pqxx::connection>(options_.url);
  const ServerIdentity server = ReadServerIdentity(*conn);
  // A primary is checked against the URL's other hosts: this daemon may
  // not have seen the failover that left it behind.
  std::vector<ServerIdentity> peers;
  if (!server.in_recovery && !hosts_.empty()) peers = PeerIdentities();
  absl::Status admitted = fence_.Admit(server, peers);
  if (admitted.ok()) return conn;
  const std::string refused = ServerOf(*conn);
  log::Warn("database_server_fenced",
            {{"server", refused}, {"error", admitted.message()}});
  conn.reset();
  // The URL's other hosts, in its order (libpq picked the first that
  // accepted the session; it may pick the refused one again).
  for (const std::string& one : PerHostConnectionStrings(options_.url)) {
    std::unique_ptr<pqxx::connection> other;
    try {
      other = std::make_unique<pqxx::connection>(one);
    } catch (const pqxx::broken_connection&) {
      continue;  // down, or not read-write as the URL asks
    }
    if (ServerOf(*other) == refused) continue;
    absl::Status s = fence_.Admit(ReadServerIdentity(*other), peers);
    if (s.ok()) return other;
    log::Warn("database_server_fenced",
              {{"server", ServerOf(*other)}, {"error", s.message()}});
  }
  throw pqxx::broken_connection(std::string(admitted.message()));
}

bool Database::Connect(Slot* slot) {
  if (slot->conn != nullptr && ClosedWhileIdle(*slot->conn)) Disconnect(slot);
  if (slot->conn != nullptr) return false;
  slot->session_timeout_ms = 0;
  slot->conn = OpenAdmitted();
  slot->notices = std::make_unique<ReplicationNotices>(*slot->conn);
  open_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

absl::Status Database::RunOnce(const char* name, Slot* slot,
                               const TxOptions& options,
                               absl::FunctionRef<absl::Status(Tx&)> body) {
  absl::StatusOr<int64_t> ms = RemainingMs(options);
  if (!ms.ok()) return ms.status();
  Tx tx(*slot->conn);
  // Local to the transaction; 0 only to undo a session timeout.
  // With the actor, in one round trip (none when neither is needed).
  const bool set_timeout = *ms != 0 || slot->session_timeout_ms != 0;
  if (set_timeout || !options.actor.empty()) {
    std::optional<std::string> timeout;
    if (set_timeout) timeout = std::to_string(*ms);
    Exec(tx, sql::kDbSetTxSettings, timeout, options.actor);
  }
  absl::Status status = body(tx);
  if (!status.ok()) {
    tx.abort();
    return status;
  }
  if (options.cancelled && options.cancelled()) {
    tx.abort();
    return absl::CancelledError("the call was cancelled; nothing was changed");
  }
  slot->notices->Reset();
  {
    // statement_timeout does not bound a COMMIT that waits for a
    // synchronous standby: the deadline does, from here.
    CommitWatchdog::Watch watch(&watchdog_, CommitCancelTime(options.deadline),
                                slot->conn.get(), &slot->cancel_sent);
    tx.commit();
  }
  if (slot->cancel_sent || slot->notices->unconfirmed()) {
    return UnconfirmedCommit(name);
  }
  return absl::OkStatus();
}

absl::Status Database::RunAutocommit(
    const char* name, Slot* slot, const TxOptions& options,
    absl::FunctionRef<absl::Status(AutoTx&)> body, bool* sent) {
  if (options.cancelled && options.cancelled()) {
    return absl::CancelledError("the call was cancelled; nothing was changed");
  }
  absl::StatusOr<int64_t> remaining = RemainingMs(options);
  if (!remaining.ok()) return remaining.status();
  const int64_t want = *remaining;
  AutoTx tx(*slot->conn);
  if (!TimeoutFits(slot->session_timeout_ms, want)) {
    // 95%: the next calls with about the same deadline fit it too.
    const int64_t ms = want == 0 ? 0 : std::max<int64_t>(1, want * 19 / 20);
    slot->session_timeout_ms = -1;  // unknown until the SET answers
    Exec(tx, sql::kDbSetSessionStatementTimeout, std::to_string(ms));
    slot->session_timeout_ms = ms;
  }
  *sent = true;
  slot->notices->Reset();
  absl::Status status;
  {
    // The statement's own commit may wait for a synchronous standby, which
    // statement_timeout does not bound.
    CommitWatchdog::Watch watch(&watchdog_, CommitCancelTime(options.deadline),
                                slot->conn.get(), &slot->cancel_sent);
    status = body(tx);
  }
  // A statement cancelled before its commit threw (57014); one that
  // returns after a cancel request may have committed unconfirmed.
  if (slot->cancel_sent || slot->notices->unconfirmed()) {
    return UnconfirmedCommit(name);
  }
  return status;
}

void Database::SetReadPool(Database* reader) { reader_ = reader; }

void Database::TakeCommitPosition(const char* name, Slot* slot) {
  try {
    AutoTx tx(*slot->conn);
    const uint64_t position =
        PositionOf(Exec(tx, sql::kDbCommitPosition)[0][0]);
    uint64_t seen = commit_position_.load(std::memory_order_relaxed);
    while (position > seen && !commit_position_.compare_exchange_weak(
                                  seen, position, std::memory_order_release)) {
    }
  } catch (const std::exception& e) {
    // The commit stands; only this call's answer may carry an older
    // position (docs/scaling.md). A broken connection is found on reuse.
    log::Warn("commit_position_failed", {{"tx", name}, {"error", e.what()}});
  }
}

bool Database::TryRead(const char* name, const TxOptions& options,
                       absl::FunctionRef<absl::Status(Tx&)> body,
                       absl::Status* out, bool* lagging) {
  const int64_t now = absl::GetCurrentTimeNanos();
  if (now < down_until_ns_.load(std::memory_order_relaxed)) return false;
  bool on_standby = false;
  absl::Status status = Run(name, options, [&](Slot* slot, bool*) {
    if (!slot->probed ||
        (slot->standby && slot->replayed < options.min_position)) {
      AutoTx tx(*slot->conn);
      pqxx::row row = Exec(tx, sql::kDbReplayPosition)[0];
      slot->standby = row[0].as<bool>();
      slot->replayed = PositionOf(row[1]);
      slot->probed = true;
    }
    if (slot->standby && slot->replayed < options.min_position) {
      *lagging = true;
      return absl::OkStatus();
    }
    on_standby = slot->standby;
    return RunOnce(name, slot, options, body);
  });
  if (*lagging) return false;
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kResourceExhausted) {
    // Reads have no side effects: the primary may run this one again.
    if (status.code() == absl::StatusCode::kUnavailable) {
      const int64_t was = down_until_ns_.exchange(
          now + absl::ToInt64Nanoseconds(kReadPoolRetry));
      if (was <= now - absl::ToInt64Nanoseconds(kReadPoolRetry)) {
        log::Warn("read_pool_unreachable", {{"error", status.message()}});
      }
    }
    return false;
  }
  (on_standby ? reads_standby_ : reads_read_pool_primary_)
      .fetch_add(1, std::memory_order_relaxed);
  *out = std::move(status);
  return true;
}

absl::Status Database::Transact(const char* name, const TxOptions& options,
                                absl::FunctionRef<absl::Status(Tx&)> body) {
  if (options.read && reader_ != nullptr) {
    absl::Status status;
    bool lagging = false;
    if (reader_->TryRead(name, options, body, &status, &lagging)) {
      return status;
    }
    (lagging ? reads_primary_lagging_ : reads_primary_unreachable_)
        .fetch_add(1, std::memory_order_relaxed);
  }
  const bool take_position = reader_ != nullptr && !options.read;
  // Nothing commits before COMMIT, and a broken COMMIT is in doubt (its own
  // exception): a connection that broke earlier left nothing behind.
  return Run(name, options, [&](Slot* slot, bool*) {
    absl::Status status = RunOnce(name, slot, options, body);
    if (status.ok() && take_position) TakeCommitPosition(name, slot);
    return status;
  });
}

absl::Status Database::Autocommit(
    const char* name, const TxOptions& options,
    absl::FunctionRef<absl::Status(AutoTx&)> body) {
  return Run(name, options, [&](Slot* slot, bool* sent) {
    absl::Status status = RunAutocommit(name, slot, options, body, sent);
    if (status.ok() && reader_ != nullptr) TakeCommitPosition(name, slot);
    return status;
  });
}

absl::Status Database::Run(
    const char* name, const TxOptions& options,
    absl::FunctionRef<absl::Status(Slot*, bool* sent)> attempt) {
  for (int attempt_no = 1;; ++attempt_no) {
    absl::Time wait_until =
        std::min(options.deadline, absl::Now() + options_.acquire_timeout);
    absl::StatusOr<Slot*> slot = Acquire(wait_until);
    if (!slot.ok()) {
      if (absl::Now() >= options.deadline) {
        return absl::DeadlineExceededError(
            "the call's deadline passed while waiting for a database "
            "connection");
      }
      return slot.status();
    }
    // Where it failed: opening a connection, or using one (and whether a
    // statement that may commit had gone out).
    bool connected = false, fresh = false, sent = false;
    try {
      fresh = Connect(*slot);
      connected = true;
      absl::Status status = attempt(*slot, &sent);
      Release(*slot, /*broken=*/(*slot)->cancel_sent);
      return status;
    } catch (const std::exception& e) {
      FailureKind kind = ClassifyException(e);
      // A read-only connection (a standby, a demoted primary) is replaced:
      // a multi-host URL with target_session_attrs=read-write then finds
      // the primary.
      bool broken = kind == FailureKind::kBrokenConnection ||
                    kind == FailureKind::kReadOnly || (*slot)->cancel_sent ||
                    (*slot)->conn == nullptr || !(*slot)->conn->is_open() ||
                    dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
      Release(*slot, broken);
      if (kind == FailureKind::kBrokenConnection && sent) {
        // An autocommit statement may have committed before the break.
        log::Error("tx_in_doubt", {{"tx", name}, {"error", e.what()}});
        return absl::UnavailableError(
            "the database connection broke during the call, so its outcome "
            "is unknown; retry with the same request_id");
      }
      // A pooled connection that broke before COMMIT left nothing behind:
      // one immediate retry on a new connection hides a database restart
      // from the caller. A refused new connection is not retried: the
      // database would refuse the next one too, and each attempt costs it
      // a backend fork while it is already short.
      // A pooled connection refused a write as read-only (the server was
      // demoted): nothing was written, and a new one may reach the primary.
      // A new connection that is read-only too is not retried.
      const bool reconnect =
          attempt_no == 1 &&
          ((kind == FailureKind::kBrokenConnection && connected) ||
           (kind == FailureKind::kReadOnly && !fresh));
      const bool retry = reconnect || (kind == FailureKind::kRetryable &&
                                       attempt_no < options_.max_attempts);
      if (retry && absl::Now() < options.deadline) {
        retries_.fetch_add(1, std::memory_order_relaxed);
        log::Debug("tx_retry", {{"tx", name}, {"attempt", attempt_no}});
        if (kind == FailureKind::kRetryable) {
          absl::SleepFor(Backoff(attempt_no));
        }
        continue;
      }
      return StatusFromException(e, name);
    }
  }
}

absl::Status Database::Ping(absl::Duration timeout) {
  TxOptions options;
  options.deadline = absl::Now() + timeout;
  return Transact("db.ping", options, [](Tx& tx) {
    Exec(tx, sql::kDbPing);
    return absl::OkStatus();
  });
}

PoolStats Database::Stats() const {
  absl::MutexLock lock(&mu_);
  PoolStats stats;
  stats.open = open_.load(std::memory_order_relaxed);
  stats.in_use = static_cast<int>(slots_.size() - idle_.size());
  stats.waiting = waiting_;
  stats.retries = retries_.load(std::memory_order_relaxed);
  stats.reads_primary_lagging =
      reads_primary_lagging_.load(std::memory_order_relaxed);
  stats.reads_primary_unreachable =
      reads_primary_unreachable_.load(std::memory_order_relaxed);
  if (reader_ != nullptr) {
    stats.reads_standby =
        reader_->reads_standby_.load(std::memory_order_relaxed);
    stats.reads_read_pool_primary =
        reader_->reads_read_pool_primary_.load(std::memory_order_relaxed);
  }
  return stats;
}

std::string RedactDatabaseUrl(const std::string& url) {
  // postgresql://user:secret@host/db  and  password=secret  and  ?password=
  static const std::regex kUserinfo(R"(^([a-z]+://[^:/@]*):[^@]*@)");
  static const std::regex kKeyword(R"((password\s*=\s*)('[^']*'|[^\s&]*))");
  std::string out = std::regex_replace(url, kUserinfo, "$1:****@");
  return std::regex_replace(out, kKeyword, "$1****");
}

}  // namespace metad::store
