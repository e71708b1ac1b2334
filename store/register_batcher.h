// Group commit for RegisterFile: concurrent single-file registrations share
// one transaction (and one WAL flush) instead of paying for one each.
//
// A GroupCommit (store/group_commit.h) whose batch is one FileStore::Register
// of every queued call's files: it commits all its calls or none. When a
// batch fails, its calls run again one by one, so each gets its own status
// (a caller's bad value never fails its neighbours), unless the failure is
// the database's (UNAVAILABLE, RESOURCE_EXHAUSTED): then all get it at once.
// A call cancelled or past its deadline before its batch commits is left
// out of it, and a batch rolls back if one of its calls is cancelled before
// COMMIT.
#ifndef METAD_STORE_REGISTER_BATCHER_H_
#define METAD_STORE_REGISTER_BATCHER_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "store/file_store.h"
#include "store/group_commit.h"

namespace metad::store {

struct RegisterBatcherOptions {
  // Batches in flight at once (each holds one pooled connection).
  int committers = 2;
  // Calls per batch at most.
  int max_calls = 1000;
  // Calls waiting at most; more are refused with RESOURCE_EXHAUSTED.
  int max_queued = 4096;
};

class RegisterBatcher {
 public:
  using Files = std::vector<RegisteredFile>;
  using Done = std::function<void(absl::StatusOr<Files>)>;

  RegisterBatcher(FileStore* store, RegisterBatcherOptions options = {});

  // Registers `specs` (they must stay valid until `done` runs) like
  // FileStore::Register, and calls `done` with the result on a committer
  // thread. `done` must not block. RESOURCE_EXHAUSTED at once when
  // max_queued calls wait already.
  void Submit(TxOptions options, std::vector<const metad::v1::FileSpec*> specs,
              std::string request_id, Done done) {
    Submit(std::move(options), std::move(specs), std::move(request_id),
           ChangeIntent{}, std::move(done));
  }

  // The same with the call's change policy and actor. Calls with different
  // intents share a batch: each spec carries its own.
  void Submit(TxOptions options, std::vector<const metad::v1::FileSpec*> specs,
              std::string request_id, ChangeIntent intent, Done done);

  // Answers what is queued and ends the committers (idempotent). Later
  // Submits are answered UNAVAILABLE.
  void Stop() { group_.Stop(); }

  GroupCommitStats stats() const { return group_.stats(); }

 private:
  struct Call {
    std::vector<const metad::v1::FileSpec*> specs;
    std::string request_id;
    ChangeIntent intent;
  };
  absl::StatusOr<std::vector<absl::StatusOr<Files>>> RegisterAll(
      const TxOptions& shared, const std::vector<const Call*>& calls);

  FileStore* store_;
  GroupCommit<Call, Files> group_;
};

}  // namespace metad::store

#endif  // METAD_STORE_REGISTER_BATCHER_H_
