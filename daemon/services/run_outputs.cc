// TaskLogService: the files a run produced. RecordOutputs, and FinishRun
// with outputs, which leaves the group commit (store/run_batcher.h) for one
// transaction of its own: record the outputs, then end the run
// (store/lineage_store.h has the rules).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/validation.h"
#include "daemon/services/file_spec_check.h"
#include "daemon/services/task_log_service.h"

namespace metad::daemon {
namespace {

using metad::v1::FileSpec;

// 1..kMaxOutputs specs, each a valid FileSpec
// ("outputs[3].file_name: ..."); their addresses in *specs.
absl::Status CheckOutputs(
    const google::protobuf::RepeatedPtrField<FileSpec>& outputs,
    std::vector<const FileSpec*>* specs) {
  if (outputs.empty() || outputs.size() > kMaxOutputs) {
    return metad::InvalidFieldError(
        "outputs", absl::StrCat("must hold 1..", kMaxOutputs, " files (got ",
                                outputs.size(), ")"));
  }
  specs->reserve(outputs.size());
  for (int i = 0; i < outputs.size(); ++i) {
    RETURN_IF_ERROR(
        CheckFileSpec(absl::StrCat("outputs[", i, "]."), outputs.Get(i)));
    specs->push_back(&outputs.Get(i));
  }
  return absl::OkStatus();
}

void AnswerOutputs(
    std::vector<store::RegisteredFile>& results,
    google::protobuf::RepeatedPtrField<metad::v1::RegisterFileResponse>* out) {
  for (store::RegisteredFile& result : results) {
    metad::v1::RegisterFileResponse* answer = out->Add();
    *answer->mutable_file() = std::move(result.file);
    answer->set_created(result.created);
  }
}

}  // namespace

grpc::ServerUnaryReactor* TaskLogServiceImpl::RecordOutputs(
    grpc::CallbackServerContext* context,
    const metad::v1::RecordOutputsRequest* request,
    metad::v1::RecordOutputsResponse* response) {
  return runner_->Run(
      context, "RecordOutputs",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckId("run_id", request->run_id()));
        std::vector<const FileSpec*> specs;
        RETURN_IF_ERROR(CheckOutputs(request->outputs(), &specs));
        ASSIGN_OR_RETURN(auto results,
                         lineage_.RecordOutputs(o, request->run_id(), specs));
        AnswerOutputs(results, response->mutable_outputs());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TaskLogServiceImpl::FinishRunWithOutputs(
    grpc::CallbackServerContext* context,
    const metad::v1::FinishRunRequest* request,
    metad::v1::FinishRunResponse* response) {
  return runner_->Run(
      context, "FinishRun",
      [this, request, response](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckFinishRequest(*request));
        if (request->status() != metad::v1::RUN_STATUS_SUCCESS) {
          return metad::InvalidFieldError(
              "outputs",
              "only a RUN_STATUS_SUCCESS finish records outputs (status is "
              "RUN_STATUS_ERROR); leave outputs empty");
        }
        std::vector<const FileSpec*> specs;
        RETURN_IF_ERROR(CheckOutputs(request->outputs(), &specs));
        ASSIGN_OR_RETURN(
            store::FinishWithOutputsResult result,
            lineage_.FinishRunWithOutputs(o, FinishInputOf(*request), specs));
        *response->mutable_run() = std::move(result.finish.run);
        response->set_files_finished(result.finish.files_finished);
        response->set_files_released(result.finish.files_released);
        response->set_replayed(result.finish.replayed);
        AnswerOutputs(result.outputs, response->mutable_outputs());
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
