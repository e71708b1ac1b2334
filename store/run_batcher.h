// Group commit for StartRun and FinishRun: concurrent calls of one kind
// share one statement (metad_start_runs / metad_finish_runs) and one commit.
//
// The twin of RegisterBatcher (register_batcher.h), wired the same way: the
// service submits a validated call with its deadline and gets the answer on
// a committer thread. Each call keeps its own outcome: a refusal of one
// (parents not done, the lease lapsed) does not touch the others.
#ifndef METAD_STORE_RUN_BATCHER_H_
#define METAD_STORE_RUN_BATCHER_H_

#include <functional>

#include "store/group_commit.h"
#include "store/run_store.h"

namespace metad::store {

class RunBatcher {
 public:
  using StartDone = std::function<void(absl::StatusOr<StartRunResult>)>;
  using FinishDone = std::function<void(absl::StatusOr<FinishRunResult>)>;

  explicit RunBatcher(RunStore* store);

  // RunStore::StartRun's answer, called on a committer thread; `done` must
  // not block. RESOURCE_EXHAUSTED at once when too many calls wait.
  void SubmitStart(TxOptions options, StartRunInput in, StartDone done);
  // RunStore::FinishRun's answer, as SubmitStart.
  void SubmitFinish(TxOptions options, FinishRunInput in, FinishDone done);

  // Answers what is queued and ends the committers (idempotent).
  void Stop();

 private:
  RunStore* store_;
  GroupCommit<StartRunInput, StartRunResult> starts_;
  GroupCommit<FinishRunInput, FinishRunResult> finishes_;
};

}  // namespace metad::store

#endif  // METAD_STORE_RUN_BATCHER_H_
