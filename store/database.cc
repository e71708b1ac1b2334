#include "store/database.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <random>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "store/error_mapping.h"
#include "store/log.h"

namespace metad::store {

struct Database::Slot {
  // Null until first use and after the connection broke.
  std::unique_ptr<pqxx::connection> conn;
};

namespace {

constexpr Query kSetStatementTimeout{
    "db.set_statement_timeout",
    "SELECT set_config('statement_timeout', $1, true)"};
constexpr Query kPing{"db.ping", "SELECT 1"};

absl::Duration Backoff(int attempt) {
  // Jittered exponential backoff: 1-2 ms, 2-4 ms, ... capped at 100 ms.
  thread_local std::mt19937 rng{std::random_device{}()};
  int64_t base_us = std::min<int64_t>(1000LL << std::min(attempt, 7), 100000);
  std::uniform_int_distribution<int64_t> jitter(0, base_us);
  return absl::Microseconds(base_us + jitter(rng));
}

}  // namespace

Database::Database(DatabaseOptions options) : options_(std::move(options)) {}

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

void Database::Release(Slot* slot, bool broken) {
  if (broken && slot->conn != nullptr) {
    slot->conn.reset();  // reconnect on next use
    open_.fetch_sub(1, std::memory_order_relaxed);
  }
  absl::MutexLock lock(&mu_);
  idle_.push_back(slot);
}

absl::Status Database::RunOnce(Slot* slot, const char* name,
                               const TxOptions& options,
                               absl::FunctionRef<absl::Status(Tx&)> body) {
  if (slot->conn == nullptr) {
    slot->conn = std::make_unique<pqxx::connection>(options_.url);
    open_.fetch_add(1, std::memory_order_relaxed);
  }
  Tx tx(*slot->conn);
  if (options.deadline != absl::InfiniteFuture()) {
    int64_t ms = absl::ToInt64Milliseconds(options.deadline - absl::Now());
    if (ms <= 0) {
      return absl::DeadlineExceededError("the call's deadline passed");
    }
    Exec(tx, kSetStatementTimeout, std::to_string(ms));
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
  tx.commit();
  return absl::OkStatus();
}

absl::Status Database::Transact(const char* name, const TxOptions& options,
                                absl::FunctionRef<absl::Status(Tx&)> body) {
  for (int attempt = 1;; ++attempt) {
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
    // Whether this attempt opens the connection (rather than reusing one).
    const bool fresh = (*slot)->conn == nullptr;
    try {
      absl::Status status = RunOnce(*slot, name, options, body);
      Release(*slot, /*broken=*/false);
      return status;
    } catch (const std::exception& e) {
      FailureKind kind = ClassifyException(e);
      bool broken = kind == FailureKind::kBrokenConnection ||
                    (*slot)->conn == nullptr || !(*slot)->conn->is_open() ||
                    dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr;
      Release(*slot, broken);
      // A pooled connection that broke before COMMIT left nothing behind:
      // one immediate retry on a new connection hides a database restart
      // from the caller. A refused new connection is not retried: the
      // database would refuse the next one too, and each attempt costs it
      // a backend fork while it is already short.
      const bool reconnect =
          kind == FailureKind::kBrokenConnection && attempt == 1 && !fresh;
      const bool retry = reconnect || (kind == FailureKind::kRetryable &&
                                       attempt < options_.max_attempts);
      if (retry && absl::Now() < options.deadline) {
        retries_.fetch_add(1, std::memory_order_relaxed);
        log::Debug("tx_retry", {{"tx", name}, {"attempt", attempt}});
        if (kind == FailureKind::kRetryable) absl::SleepFor(Backoff(attempt));
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
    Exec(tx, kPing);
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
