// Group commit for RegisterFile: concurrent single-file registrations share
// one transaction (and one WAL flush) instead of paying for one each.
//
// Calls queue here; a few committer threads each take whatever is queued
// (up to max_files) and register it with one FileStore::Register. Under
// light load a batch holds one call and nothing waits; under heavy load a
// batch holds what arrived during the previous commit. Each call keeps its
// own outcome: a batch commits all its calls or none, and when a batch
// fails, its calls are run again one by one, so each gets its own status
// (a caller's bad value never fails its neighbours), unless the failure is
// the database's (UNAVAILABLE, RESOURCE_EXHAUSTED): then all get it at once. A
// call cancelled or past its deadline before its batch commits is left out of
// it.
#ifndef METAD_STORE_REGISTER_BATCHER_H_
#define METAD_STORE_REGISTER_BATCHER_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/file_store.h"

namespace metad::store {

struct RegisterBatcherOptions {
  // Batches in flight at once (each holds one pooled connection).
  int committers = 2;
  // Files per batch at most.
  int max_files = 1000;
  // Calls waiting at most; more are refused with RESOURCE_EXHAUSTED.
  int max_queued = 4096;
};

struct RegisterBatcherStats {
  int64_t batches = 0;    // transactions committed for batches
  int64_t calls = 0;      // calls answered
  int64_t fallbacks = 0;  // batches that failed and were run call by call
  // Batches that failed for a reason no call caused (the database
  // unreachable, no connection free): every call got that status.
  int64_t shared_failures = 0;
};

class RegisterBatcher {
 public:
  using Done = std::function<void(absl::StatusOr<std::vector<RegisteredFile>>)>;

  RegisterBatcher(FileStore* store, RegisterBatcherOptions options = {});
  ~RegisterBatcher();  // Stop()

  // Registers `specs` (they must stay valid until `done` runs) like
  // FileStore::Register, and calls `done` with the result on a committer
  // thread. `done` must not block. RESOURCE_EXHAUSTED at once when
  // max_queued calls wait already.
  void Submit(TxOptions options, std::vector<const metad::v1::FileSpec*> specs,
              std::string request_id, Done done);

  // Answers what is queued and ends the committers (idempotent). Later
  // Submits are answered UNAVAILABLE.
  void Stop();

  RegisterBatcherStats stats() const;

 private:
  struct Call {
    TxOptions options;
    std::vector<const metad::v1::FileSpec*> specs;
    std::string request_id;
    Done done;
  };
  void Loop();
  // Runs one batch and answers its calls.
  void Commit(std::vector<Call>& batch);

  FileStore* store_;
  const RegisterBatcherOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Call> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  RegisterBatcherStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace metad::store

#endif  // METAD_STORE_REGISTER_BATCHER_H_
