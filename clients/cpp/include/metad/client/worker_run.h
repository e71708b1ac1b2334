// WorkerRun: one run of a task as a worker lives it, in the safe form.
//
//   auto run = metad::client::WorkerRun::Start(&client, "load", "b1");
//   if (!run.ok()) ...;
//   for (const v1::File& f : (*run)->Claim(100).value()) {
//     load(f);
//     (*run)->Complete(f.id(), v1::FILE_STATUS_SUCCESS);
//   }
//   (*run)->Finish(v1::RUN_STATUS_SUCCESS);
//
// A background thread heartbeats every lease/3. Every call is safe to retry
// and the client retries it (StartRun and ClaimFiles carry request_ids,
// CompleteFile and FinishRun are idempotent). Finish names every file a
// Claim answer brought, so files held by the run that never reached this
// worker (a ClaimFiles answer lost for good) go back to NEW instead of being
// recorded as processed. Once the daemon refuses the run (it ended, was
// cancelled, or its lease lapsed: FAILED_PRECONDITION), the run is lost and
// every later call answers that refusal.
#ifndef METAD_CLIENT_WORKER_RUN_H_
#define METAD_CLIENT_WORKER_RUN_H_

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metad/client/metad_client.h"

namespace metad::client {

struct WorkerRunOptions {
  std::string worker_id;      // empty: host:pid
  int32_t lease_seconds = 0;  // 0: the task's default
  std::string request_id;     // empty: generated (StartRun's key)
  bool heartbeat = true;      // heartbeat in the background
  absl::Duration heartbeat_interval = absl::ZeroDuration();  // 0: lease/3
  // The run's labels (StartRunRequest.labels: at most 64, keys of
  // [A-Za-z0-9._/-]); ListRuns and WatchRuns select runs by them.
  std::map<std::string, std::string> labels;
};

class WorkerRun {
 public:
  // Starts a run (StartRun) and its heartbeats.
  static absl::StatusOr<std::unique_ptr<WorkerRun>> Start(
      Client* client, const std::string& task, const std::string& batch_id,
      WorkerRunOptions options = {});
  ~WorkerRun();  // stops the heartbeats; does not finish the run
  WorkerRun(const WorkerRun&) = delete;
  WorkerRun& operator=(const WorkerRun&) = delete;

  int64_t id() const { return run_id_; }
  // The run as StartRun, the last Heartbeat or Finish returned it.
  v1::Run run() const;
  // The refusal that lost the run; OK while it is not known to be lost.
  grpc::Status lost() const;
  // Every file id a Claim answer brought, ascending.
  std::vector<int64_t> received() const;

  // Claims up to `limit` NEW files (of `source`, or any) with a request_id
  // of its own: a retry after a lost answer returns the same files.
  absl::StatusOr<std::vector<v1::File>> Claim(int32_t limit,
                                              const std::string& source = "");
  // Ends one held file early (SUCCESS, or ERROR with a message).
  absl::StatusOr<v1::File> Complete(int64_t file_id, v1::FileStatus status,
                                    const std::string& error_message = "");
  // Ends the run, naming every received file, and stops the heartbeats.
  absl::StatusOr<v1::FinishRunResponse> Finish(
      v1::RunStatus status, const std::string& error_message = "");

 private:
  WorkerRun(Client* client, v1::Run run);
  void HeartbeatLoop(absl::Duration interval);
  void StopHeartbeats();
  // Records a refusal that means the run is gone (FAILED_PRECONDITION).
  grpc::Status Note(const grpc::Status& status);

  Client* const client_;
  const int64_t run_id_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  v1::Run run_;
  grpc::Status lost_;
  std::set<int64_t> received_;
  std::thread heartbeats_;
};

}  // namespace metad::client

#endif  // METAD_CLIENT_WORKER_RUN_H_
