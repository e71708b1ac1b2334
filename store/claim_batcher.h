// Coalesced ClaimFiles: concurrent claims share one transaction, and the
// claims of one source one statement (FileStore::ClaimMany), instead of
// each running its own SKIP LOCKED scan that steps over the rows the others
// hold. 32 workers claiming 100 files each become one scan of 3,200.
//
// A GroupCommit (store/group_commit.h) like RunBatcher: each call keeps its
// own outcome (a run that ended, a replayed request_id, a reused one), and
// when a batch cannot be answered together (two calls of one run, a twin
// request recorded concurrently, a failed transaction) its calls run again
// one by one through FileStore::Claim.
#ifndef METAD_STORE_CLAIM_BATCHER_H_
#define METAD_STORE_CLAIM_BATCHER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "store/file_store.h"
#include "store/group_commit.h"

namespace metad::store {

// One committer: a batch's scan then never steps over the rows a concurrent
// batch holds (measured: 12% less CPU per claimed and finished file than
// two committers at the same rate, docs/benchmarks.md "Session 9").
inline GroupCommitOptions DefaultClaimBatcherOptions() {
  GroupCommitOptions options;
  options.committers = 1;
  return options;
}

class ClaimBatcher {
 public:
  using Done = std::function<void(absl::StatusOr<ClaimResult>)>;

  explicit ClaimBatcher(FileStore* store, GroupCommitOptions options =
                                              DefaultClaimBatcherOptions());

  // FileStore::Claim's answer for `call`, called on a committer thread;
  // `done` must not block. RESOURCE_EXHAUSTED at once when too many calls
  // wait; UNAVAILABLE after Stop().
  void Submit(TxOptions options, ClaimCall call, Done done);

  // Answers what is queued and ends the committers (idempotent).
  void Stop() { group_.Stop(); }

  GroupCommitStats stats() const { return group_.stats(); }

 private:
  FileStore* store_;
  GroupCommit<ClaimCall, ClaimResult> group_;
};

}  // namespace metad::store

#endif  // METAD_STORE_CLAIM_BATCHER_H_
