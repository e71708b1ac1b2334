// metad.v1.TaskLogService: decode, validate, call the run store, map status.
// The rules and the codes each RPC returns are documented in
// proto/metad/v1/task_log.proto and store/run_store.h.
#ifndef METAD_DAEMON_SERVICES_TASK_LOG_SERVICE_H_
#define METAD_DAEMON_SERVICES_TASK_LOG_SERVICE_H_

#include "daemon/rpc/call_runner.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "store/database.h"
#include "store/lineage_store.h"
#include "store/run_batcher.h"
#include "store/run_store.h"

namespace metad::daemon {

// A FinishRunRequest's run_id, status, error_message, file_ids and
// settle_all_held, checked alike by both FinishRun paths (group commit, and
// outputs in run_outputs.cc); INVALID_ARGUMENT naming the field.
absl::Status CheckFinishRequest(const metad::v1::FinishRunRequest& request);

// The store's input for a checked FinishRunRequest.
store::FinishRunInput FinishInputOf(const metad::v1::FinishRunRequest& request);

class TaskLogServiceImpl final
    : public metad::v1::TaskLogService::CallbackService {
 public:
  TaskLogServiceImpl(store::Database* db, CallRunner* runner);

  grpc::ServerUnaryReactor* StartRun(
      grpc::CallbackServerContext* context,
      const metad::v1::StartRunRequest* request,
      metad::v1::StartRunResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(
      grpc::CallbackServerContext* context,
      const metad::v1::HeartbeatRequest* request,
      metad::v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* FinishRun(
      grpc::CallbackServerContext* context,
      const metad::v1::FinishRunRequest* request,
      metad::v1::FinishRunResponse* response) override;
  // CancelRun and RerunTasks: task_log_verbs.cc.
  grpc::ServerUnaryReactor* CancelRun(
      grpc::CallbackServerContext* context,
      const metad::v1::CancelRunRequest* request,
      metad::v1::CancelRunResponse* response) override;
  grpc::ServerUnaryReactor* RerunTasks(
      grpc::CallbackServerContext* context,
      const metad::v1::RerunTasksRequest* request,
      metad::v1::RerunTasksResponse* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const metad::v1::GetRunRequest* request,
                                   metad::v1::Run* response) override;
  grpc::ServerUnaryReactor* ListRuns(
      grpc::CallbackServerContext* context,
      const metad::v1::ListRunsRequest* request,
      metad::v1::ListRunsResponse* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const metad::v1::GetBatchRequest* request,
                                     metad::v1::Batch* response) override;
  grpc::ServerUnaryReactor* ListRunEvents(
      grpc::CallbackServerContext* context,
      const metad::v1::ListRunEventsRequest* request,
      metad::v1::ListRunEventsResponse* response) override;

  // Registers files a live run produced (run_outputs.cc).
  // INVALID_ARGUMENT for a bad run_id or 0 or more than 1000 outputs or a
  // malformed one (naming it); NOT_FOUND unknown run; FAILED_PRECONDITION
  // the run ended or its lease lapsed (nothing is recorded).
  grpc::ServerUnaryReactor* RecordOutputs(
      grpc::CallbackServerContext* context,
      const metad::v1::RecordOutputsRequest* request,
      metad::v1::RecordOutputsResponse* response) override;

 private:
  store::RunStore store_;
  CallRunner* runner_;
  // StartRun and FinishRun calls that arrive together share a statement
  // and a commit (store/run_batcher.h).
  store::RunBatcher batcher_;
  store::LineageStore lineage_;

  // FinishRun with outputs (run_outputs.cc): a transaction of its own
  // instead of the group commit. INVALID_ARGUMENT (outputs) unless the
  // status is SUCCESS; otherwise FinishRun's codes.
  grpc::ServerUnaryReactor* FinishRunWithOutputs(
      grpc::CallbackServerContext* context,
      const metad::v1::FinishRunRequest* request,
      metad::v1::FinishRunResponse* response);
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_TASK_LOG_SERVICE_H_
