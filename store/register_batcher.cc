#include "store/register_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace metad::store {

using metad::v1::FileSpec;

namespace {

// Whether a batch's failure may come from one of its calls (a bad value, a
// request_id conflict, the most impatient call's deadline or cancellation)
// rather than from the database as a whole.
bool CallSpecific(const absl::Status& status) {
  return status.code() != absl::StatusCode::kUnavailable &&
         status.code() != absl::StatusCode::kResourceExhausted;
}

}  // namespace

RegisterBatcher::RegisterBatcher(FileStore* store,
                                 RegisterBatcherOptions options)
    : store_(store), options_(options) {
  for (int i = 0; i < std::max(1, options_.committers); ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

RegisterBatcher::~RegisterBatcher() { Stop(); }

void RegisterBatcher::Submit(TxOptions options,
                             std::vector<const FileSpec*> specs,
                             std::string request_id, Done done) {
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
    if (!stopping && queue_.size() < static_cast<size_t>(options_.max_queued)) {
      queue_.push_back(Call{std::move(options), std::move(specs),
                            std::move(request_id), std::move(done)});
      return;
    }
  }
  done(stopping ? absl::UnavailableError("metad is shutting down; retry")
                : absl::ResourceExhaustedError(
                      "metad is overloaded (registration queue full); retry "
                      "with backoff"));
}

void RegisterBatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

RegisterBatcherStats RegisterBatcher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void RegisterBatcher::Loop() {
  for (;;) {
    std::vector<Call> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and everything answered
      size_t files = 0;
      while (!queue_.empty() &&
             (batch.empty() || files + queue_.front().specs.size() <=
                                   static_cast<size_t>(options_.max_files))) {
        files += queue_.front().specs.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    Commit(batch);
  }
}

void RegisterBatcher::Commit(std::vector<Call>& batch) {
  // Calls that no longer want an answer stay out of the shared transaction.
  std::vector<Call*> live;
  for (Call& call : batch) {
    if (call.options.cancelled && call.options.cancelled()) {
      call.done(
          absl::CancelledError("the call was cancelled; nothing was changed"));
    } else if (absl::Now() >= call.options.deadline) {
      call.done(absl::DeadlineExceededError("the call's deadline passed"));
    } else {
      live.push_back(&call);
    }
  }
  if (live.empty()) return;

  absl::StatusOr<std::vector<RegisteredFile>> results;
  if (live.size() == 1) {
    results =
        store_->Register(live[0]->options, live[0]->specs, live[0]->request_id);
  } else {
    // The batch lives as long as its most impatient call allows, and rolls
    // back if any of its calls is cancelled before COMMIT.
    TxOptions shared;
    std::vector<const FileSpec*> specs;
    std::vector<std::string> request_ids;
    for (Call* call : live) {
      shared.deadline = std::min(shared.deadline, call->options.deadline);
      specs.insert(specs.end(), call->specs.begin(), call->specs.end());
      request_ids.insert(request_ids.end(), call->specs.size(),
                         call->request_id);
    }
    shared.cancelled = [&live] {
      return std::any_of(live.begin(), live.end(), [](Call* call) {
        return call->options.cancelled && call->options.cancelled();
      });
    };
    results = store_->Register(shared, specs, request_ids);
  }

  if (results.ok()) {
    auto next = results->begin();
    for (Call* call : live) {
      auto end = next + call->specs.size();
      call->done(std::vector<RegisteredFile>(std::make_move_iterator(next),
                                             std::make_move_iterator(end)));
      next = end;
    }
    absl::MutexLock lock(&mu_);
    ++stats_.batches;
    stats_.calls += live.size();
    return;
  }
  if (live.size() == 1) {
    live[0]->done(results.status());
    absl::MutexLock lock(&mu_);
    ++stats_.calls;
    return;
  }
  if (!CallSpecific(results.status())) {
    // The database is unreachable or out of connections for everyone:
    // running each call again would only make each wait for the same
    // refusal, one after another.
    for (Call* call : live) call->done(results.status());
    absl::MutexLock lock(&mu_);
    ++stats_.shared_failures;
    stats_.calls += live.size();
    return;
  }
  // One call's problem (or the shared deadline) must not decide the
  // others' outcome: each runs again in its own transaction.
  for (Call* call : live) {
    if (call->options.cancelled && call->options.cancelled()) {
      call->done(
          absl::CancelledError("the call was cancelled; nothing was changed"));
    } else if (absl::Now() >= call->options.deadline) {
      call->done(absl::DeadlineExceededError("the call's deadline passed"));
    } else {
      call->done(
          store_->Register(call->options, call->specs, call->request_id));
    }
  }
  absl::MutexLock lock(&mu_);
  ++stats_.fallbacks;
  stats_.calls += live.size();
}

}  // namespace metad::store
