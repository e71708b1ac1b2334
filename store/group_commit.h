// Group commit for calls of one kind (StartRun, FinishRun): concurrent calls
// share one statement and one commit instead of paying for one each.
//
// Calls queue here; a few committer threads each take whatever is queued
// (up to max_batch) and run it with `batch`, which answers each call on its
// own: a refusal of one call (an outcome, not an error) does not touch the
// others. Under light load a batch holds one call and runs with `one`, so
// nothing waits for company. When a batch fails as a whole, its calls run
// again one by one, so each gets its own status, unless the failure is the
// database's (UNAVAILABLE, RESOURCE_EXHAUSTED): then all get it at once. A
// call cancelled or past its deadline before its batch runs is left out.
// (RegisterBatcher is the same idea for RegisterFile, whose batch is one
// multi-row insert that succeeds or fails as a whole.)
#ifndef METAD_STORE_GROUP_COMMIT_H_
#define METAD_STORE_GROUP_COMMIT_H_

#include <algorithm>
#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "store/database.h"

namespace metad::store {

struct GroupCommitOptions {
  // Batches in flight at once (each holds one pooled connection).
  int committers = 2;
  // Calls per batch at most. Each call of a batch holds its locks until
  // the batch commits, so batches stay small.
  int max_batch = 64;
  // Calls waiting at most; more are refused with RESOURCE_EXHAUSTED.
  int max_queued = 4096;
};

struct GroupCommitStats {
  int64_t batches = 0;          // batches committed (a call alone included)
  int64_t calls = 0;            // calls answered
  int64_t batched_calls = 0;    // calls answered by a batch of several
  int64_t fallbacks = 0;        // batches that failed and ran call by call
  int64_t shared_failures = 0;  // batches the database refused as a whole
};

template <typename In, typename Out>
class GroupCommit {
 public:
  using Done = std::function<void(absl::StatusOr<Out>)>;
  // Runs one call alone.
  using One = std::function<absl::StatusOr<Out>(const TxOptions&, const In&)>;
  // Runs calls together in one transaction: one answer per call, in order,
  // or a status for the whole batch (then nothing of it committed). The
  // options carry the earliest deadline and a cancelled() that is true
  // when any call is cancelled.
  using Batch = std::function<absl::StatusOr<std::vector<absl::StatusOr<Out>>>(
      const TxOptions&, const std::vector<const In*>&)>;

  GroupCommit(One one, Batch batch, GroupCommitOptions options = {})
      : one_(std::move(one)), batch_(std::move(batch)), options_(options) {
    for (int i = 0; i < std::max(1, options_.committers); ++i) {
      threads_.emplace_back([this] { Loop(); });
    }
  }
  ~GroupCommit() { Stop(); }
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Runs `in` and calls `done` with its answer on a committer thread.
  // `done` must not block. RESOURCE_EXHAUSTED at once when max_queued calls
  // wait already; UNAVAILABLE after Stop().
  void Submit(TxOptions options, In in, Done done) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
      if (!stopping &&
          queue_.size() < static_cast<size_t>(options_.max_queued)) {
        queue_.push_back(
            Call{std::move(options), std::move(in), std::move(done)});
        return;
      }
    }
    done(stopping ? absl::UnavailableError("metad is shutting down; retry")
                  : absl::ResourceExhaustedError(
                        "metad is overloaded (call queue full); retry with "
                        "backoff"));
  }

  // Answers what is queued and ends the committers (idempotent).
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  GroupCommitStats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  struct Call {
    TxOptions options;
    In in;
    Done done;
  };

  void Loop() {
    for (;;) {
      std::vector<Call> batch;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !queue_.empty() || stopping_;
        };
        mu_.Await(absl::Condition(&ready));
        if (queue_.empty()) return;  // stopping, and everything answered
        while (!queue_.empty() &&
               batch.size() < static_cast<size_t>(options_.max_batch)) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      Commit(batch);
    }
  }

  // Answers a call that no longer wants its work done; false if it does.
  static bool AnswerIfGone(Call& call) {
    if (call.options.cancelled && call.options.cancelled()) {
      call.done(
          absl::CancelledError("the call was cancelled; nothing was changed"));
      return true;
    }
    if (absl::Now() >= call.options.deadline) {
      call.done(absl::DeadlineExceededError("the call's deadline passed"));
      return true;
    }
    return false;
  }

  void Commit(std::vector<Call>& batch) {
    std::vector<Call*> live;
    for (Call& call : batch) {
      if (!AnswerIfGone(call)) live.push_back(&call);
    }
    if (live.empty()) return;
    if (live.size() == 1) {
      absl::StatusOr<Out> answer = one_(live[0]->options, live[0]->in);
      const bool ok = answer.ok();
      live[0]->done(std::move(answer));
      Count([ok](GroupCommitStats& s) {
        s.batches += ok ? 1 : 0;
        ++s.calls;
      });
      return;
    }
    // The batch lives as long as its most impatient call allows, and is
    // cancelled (before it commits) when any of its calls is.
    TxOptions shared;
    std::vector<const In*> ins;
    for (Call* call : live) {
      shared.deadline = std::min(shared.deadline, call->options.deadline);
      ins.push_back(&call->in);
    }
    shared.cancelled = [&live] {
      return std::any_of(live.begin(), live.end(), [](const Call* call) {
        return call->options.cancelled && call->options.cancelled();
      });
    };
    absl::StatusOr<std::vector<absl::StatusOr<Out>>> answers =
        batch_(shared, ins);
    const int64_t n = static_cast<int64_t>(live.size());
    if (answers.ok()) {
      for (size_t i = 0; i < live.size(); ++i) {
        live[i]->done(std::move((*answers)[i]));
      }
      Count([n](GroupCommitStats& s) {
        ++s.batches;
        s.calls += n;
        s.batched_calls += n;
      });
      return;
    }
    const absl::StatusCode code = answers.status().code();
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kResourceExhausted) {
      // The database is unreachable or out of connections for everyone:
      // running each call again would only queue them for the same refusal.
      for (Call* call : live) call->done(answers.status());
      Count([n](GroupCommitStats& s) {
        ++s.shared_failures;
        s.calls += n;
      });
      return;
    }
    // One call's problem (or the shared deadline) must not decide the
    // others' outcome: each runs again on its own.
    for (Call* call : live) {
      if (!AnswerIfGone(*call)) call->done(one_(call->options, call->in));
    }
    Count([n](GroupCommitStats& s) {
      ++s.fallbacks;
      s.calls += n;
    });
  }

  template <typename F>
  void Count(F f) {
    absl::MutexLock lock(&mu_);
    f(stats_);
  }

  const One one_;
  const Batch batch_;
  const GroupCommitOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Call> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  GroupCommitStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace metad::store

#endif  // METAD_STORE_GROUP_COMMIT_H_
