// TaskLogService's operator verbs: CancelRun and RerunTasks (the rest of the
// service is task_log_service.cc). Both are one transaction in the store
// (store/run_store.h) under the runs' (task, batch) locks.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/limits.h"
#include "daemon/rpc/validation.h"
#include "daemon/services/task_log_service.h"

namespace metad::daemon {

grpc::ServerUnaryReactor* TaskLogServiceImpl::CancelRun(
    grpc::CallbackServerContext* context,
    const metad::v1::CancelRunRequest* request,
    metad::v1::CancelRunResponse* response) {
  return runner_->Run(
      context, "CancelRun",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
        RETURN_IF_ERROR(
            CheckText("reason", request->reason(), 0, kMaxMessageBytes));
        ASSIGN_OR_RETURN(
            store::CancelRunResult result,
            store_.CancelRun(o, request->run_id(), request->reason()));
        *response->mutable_run() = std::move(result.run);
        response->set_files_released(result.files_released);
        response->set_replayed(result.replayed);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::RerunTasks(
    grpc::CallbackServerContext* context,
    const metad::v1::RerunTasksRequest* request,
    metad::v1::RerunTasksResponse* response) {
  return runner_->Run(
      context, "RerunTasks",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
        if (request->tasks().empty() ||
            request->tasks_size() > kMaxRerunTasks) {
          return metad::InvalidFieldError(
              "tasks",
              absl::StrCat("must name 1..", kMaxRerunTasks, " tasks (got ",
                           request->tasks_size(), ")"));
        }
        store::RerunTasksInput in;
        in.batch_id = request->batch_id();
        for (int i = 0; i < request->tasks_size(); ++i) {
          RETURN_IF_ERROR(
              CheckTaskName(absl::StrCat("tasks[", i, "]"), request->tasks(i)));
          in.tasks.push_back(request->tasks(i));
        }
        RETURN_IF_ERROR(
            CheckText("reason", request->reason(), 0, kMaxMessageBytes));
        in.include_downstream = request->include_downstream();
        in.reason = request->reason();
        ASSIGN_OR_RETURN(store::RerunTasksResult result,
                         store_.RerunTasks(o, in));
        for (std::string& task : result.tasks) {
          response->add_tasks(std::move(task));
        }
        response->set_runs_superseded(result.runs_superseded);
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
