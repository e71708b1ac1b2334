#include "daemon/services/task_log_service.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "daemon/rpc/labels.h"
#include "daemon/rpc/page_token.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

// 0 stands for a default; otherwise 1..86400.
absl::Status CheckLeaseSeconds(absl::string_view field, int32_t seconds,
                               absl::string_view zero_means) {
  if (seconds < 0 || seconds > kMaxLeaseSeconds) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must be 0 (", zero_means, ") or 1..",
                            kMaxLeaseSeconds, " seconds (got ", seconds, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRunStatusFilter(absl::string_view field, int status) {
  if (!metad::v1::RunStatus_IsValid(status)) {
    return metad::InvalidFieldError(
        field, absl::StrCat("unknown RunStatus value ", status));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFinishRequest(const metad::v1::FinishRunRequest& request) {
  RETURN_IF_ERROR(CheckId("run_id", request.run_id()));
  if (request.status() != metad::v1::RUN_STATUS_SUCCESS &&
      request.status() != metad::v1::RUN_STATUS_ERROR) {
    return metad::InvalidFieldError(
        "status",
        absl::StrCat("must be RUN_STATUS_SUCCESS or RUN_STATUS_ERROR (got ",
                     request.status(), ")"));
  }
  RETURN_IF_ERROR(
      CheckText("error_message", request.error_message(), 0, kMaxMessageBytes));
  if (request.status() == metad::v1::RUN_STATUS_SUCCESS &&
      !request.error_message().empty()) {
    return metad::InvalidFieldError("error_message",
                                    "must be empty for RUN_STATUS_SUCCESS");
  }
  // file_ids: positive, at most kMaxFinishFileIds, and not with
  // settle_all_held (which settles every held file, named or not).
  if (request.file_ids_size() > kMaxFinishFileIds) {
    return metad::InvalidFieldError(
        "file_ids", absl::StrCat("at most ", kMaxFinishFileIds, " ids (got ",
                                 request.file_ids_size(), ")"));
  }
  if (request.settle_all_held() && request.file_ids_size() > 0) {
    return metad::InvalidFieldError(
        "file_ids",
        "must be empty with settle_all_held (which settles every "
        "held file)");
  }
  for (int i = 0; i < request.file_ids_size(); ++i) {
    if (request.file_ids(i) <= 0) {
      return metad::InvalidFieldError(
          absl::StrCat("file_ids[", i, "]"),
          absl::StrCat("must be a positive file id (got ", request.file_ids(i),
                       ")"));
    }
  }
  return absl::OkStatus();
}

store::FinishRunInput FinishInputOf(
    const metad::v1::FinishRunRequest& request) {
  store::FinishRunInput in;
  in.run_id = request.run_id();
  in.status = request.status();
  in.error_message = request.error_message();
  in.file_ids.assign(request.file_ids().begin(), request.file_ids().end());
  in.settle_all_held = request.settle_all_held();
  return in;
}

TaskLogServiceImpl::TaskLogServiceImpl(store::Database* db, CallRunner* runner)
    : store_(db), runner_(runner), batcher_(&store_), lineage_(db) {}

grpc::ServerUnaryReactor* TaskLogServiceImpl::StartRun(
    grpc::CallbackServerContext* context,
    const metad::v1::StartRunRequest* request,
    metad::v1::StartRunResponse* response) {
  // Validated here on gRPC's thread; run by the group committer, which may
  // share the statement with concurrent StartRun calls.
  return runner_->RunAsync(
      context, "StartRun",
      [this, request, response](store::TxOptions o, CallRunner::Done done) {
        absl::Status valid = [&]() -> absl::Status {
          RETURN_IF_ERROR(CheckTaskName("task", request->task()));
          RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
          RETURN_IF_ERROR(CheckLabel("worker_id", request->worker_id(), 0,
                                     kMaxWorkerIdBytes));
          RETURN_IF_ERROR(CheckLeaseSeconds(
              "lease_seconds", request->lease_seconds(), "the task's default"));
          RETURN_IF_ERROR(CheckRunLabels("labels", request->labels()));
          return CheckRequestId("request_id", request->request_id());
        }();
        if (!valid.ok()) {
          done(valid);
          return;
        }
        store::StartRunInput in;
        in.task = request->task();
        in.batch_id = request->batch_id();
        in.worker_id = request->worker_id();
        in.lease_seconds = request->lease_seconds();
        in.request_id = request->request_id();
        in.labels = request->labels();
        batcher_.SubmitStart(std::move(o), std::move(in),
                             Answer<store::StartRunResult>(
                                 std::move(done), [response](auto& result) {
                                   *response->mutable_run() =
                                       std::move(result.run);
                                   response->set_created(result.created);
                                 }));
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::Heartbeat(
    grpc::CallbackServerContext* context,
    const metad::v1::HeartbeatRequest* request,
    metad::v1::HeartbeatResponse* response) {
  return runner_->Run(
      context, "Heartbeat",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
        RETURN_IF_ERROR(CheckLeaseSeconds("lease_seconds",
                                          request->lease_seconds(),
                                          "the run's lease length"));
        ASSIGN_OR_RETURN(
            *response->mutable_run(),
            store_.Heartbeat(o, request->run_id(), request->lease_seconds()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::FinishRun(
    grpc::CallbackServerContext* context,
    const metad::v1::FinishRunRequest* request,
    metad::v1::FinishRunResponse* response) {
  // With outputs: one transaction of its own (run_outputs.cc).
  if (request->outputs_size() > 0) {
    return FinishRunWithOutputs(context, request, response);
  }
  // Validated here; run by the group committer, like StartRun.
  return runner_->RunAsync(
      context, "FinishRun",
      [this, request, response](store::TxOptions o, CallRunner::Done done) {
        absl::Status valid = CheckFinishRequest(*request);
        if (!valid.ok()) {
          done(valid);
          return;
        }
        batcher_.SubmitFinish(
            std::move(o), FinishInputOf(*request),
            Answer<store::FinishRunResult>(
                std::move(done), [response](auto& result) {
                  *response->mutable_run() = std::move(result.run);
                  response->set_files_finished(result.files_finished);
                  response->set_files_released(result.files_released);
                  response->set_replayed(result.replayed);
                }));
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::GetRun(
    grpc::CallbackServerContext* context,
    const metad::v1::GetRunRequest* request, metad::v1::Run* response) {
  return runner_->Run(
      context, "GetRun",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
        ASSIGN_OR_RETURN(*response, store_.GetRun(o, request->run_id()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::ListRuns(
    grpc::CallbackServerContext* context,
    const metad::v1::ListRunsRequest* request,
    metad::v1::ListRunsResponse* response) {
  return runner_->Run(
      context, "ListRuns",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        store::RunFilter filter;
        if (!request->task().empty()) {
          RETURN_IF_ERROR(CheckTaskName("task", request->task()));
          filter.task = request->task();
        }
        if (!request->batch_id().empty()) {
          RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
          filter.batch_id = request->batch_id();
        }
        RETURN_IF_ERROR(CheckRunStatusFilter("status", request->status()));
        filter.status = request->status();
        RETURN_IF_ERROR(CheckOptionalTimestamp(
            "started_after", request->has_started_after(),
            request->started_after(), &filter.started_after_us));
        RETURN_IF_ERROR(CheckOptionalTimestamp(
            "started_before", request->has_started_before(),
            request->started_before(), &filter.started_before_us));
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after_id,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        ASSIGN_OR_RETURN(std::vector<metad::v1::Run> runs,
                         store_.ListRuns(o, filter, after_id, page_size + 1));
        const bool more = static_cast<int32_t>(runs.size()) > page_size;
        if (more) runs.resize(page_size);
        for (metad::v1::Run& run : runs) *response->add_runs() = std::move(run);
        if (more) {
          response->set_next_page_token(
              EncodePageToken(response->runs().rbegin()->id(), fingerprint));
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::GetBatch(
    grpc::CallbackServerContext* context,
    const metad::v1::GetBatchRequest* request, metad::v1::Batch* response) {
  return runner_->Run(
      context, "GetBatch",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
        ASSIGN_OR_RETURN(*response, store_.GetBatch(o, request->batch_id()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::ListRunEvents(
    grpc::CallbackServerContext* context,
    const metad::v1::ListRunEventsRequest* request,
    metad::v1::ListRunEventsResponse* response) {
  return runner_->Run(
      context, "ListRunEvents",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        int32_t page_size = 0;
        RETURN_IF_ERROR(
            CheckPageSize("page_size", request->page_size(), &page_size));
        if (request->run_id() < 0) {
          return metad::InvalidFieldError(
              "run_id",
              absl::StrCat("must be 0 (every run) or a positive id (got ",
                           request->run_id(), ")"));
        }
        if (!request->batch_id().empty()) {
          RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
        }
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after_id,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        ASSIGN_OR_RETURN(
            std::vector<metad::v1::RunEvent> events,
            store_.ListRunEvents(o, request->run_id(), request->batch_id(),
                                 after_id, page_size + 1));
        const bool more = static_cast<int32_t>(events.size()) > page_size;
        if (more) events.resize(page_size);
        for (metad::v1::RunEvent& e : events) {
          *response->add_events() = std::move(e);
        }
        if (more) {
          response->set_next_page_token(
              EncodePageToken(response->events().rbegin()->id(), fingerprint));
        }
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
