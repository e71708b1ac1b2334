#include "daemon/services/dependency_service.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

using metad::v1::AddDependencyRequest;
using metad::v1::AddDependencyResponse;
using metad::v1::Dependency;
using metad::v1::DIRECTION_CHILDREN;
using metad::v1::DIRECTION_PARENTS;
using metad::v1::ExecutionLayer;
using metad::v1::GetDownstreamRequest;
using metad::v1::GetDownstreamResponse;
using metad::v1::GetExecutionPlanRequest;
using metad::v1::GetExecutionPlanResponse;
using metad::v1::GetReadyTasksRequest;
using metad::v1::GetReadyTasksResponse;
using metad::v1::GetUpstreamRequest;
using metad::v1::GetUpstreamResponse;
using metad::v1::ListDependenciesRequest;
using metad::v1::ListDependenciesResponse;
using metad::v1::RemoveDependencyRequest;
using metad::v1::RemoveDependencyResponse;
using metad::v1::Task;
using metad::v1::TaskAtDepth;

absl::Status CheckMaxDepth(int32_t max_depth) {
  if (max_depth < 0 || max_depth > kMaxWalkDepth) {
    return metad::InvalidFieldError(
        "max_depth", absl::StrCat("must be 0 (no limit) or 1..", kMaxWalkDepth,
                                  " (got ", max_depth, ")"));
  }
  return absl::OkStatus();
}

// Validates `targets` (at least `min` names, at most kMaxTargets) and returns
// them without repeats, in the order given.
absl::StatusOr<std::vector<std::string>> CheckTargets(
    const google::protobuf::RepeatedPtrField<std::string>& targets, int min) {
  if (targets.size() < min || targets.size() > kMaxTargets) {
    return metad::InvalidFieldError(
        "targets", absl::StrCat("must name ", min, "..", kMaxTargets,
                                " tasks (got ", targets.size(), ")"));
  }
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (int i = 0; i < targets.size(); ++i) {
    RETURN_IF_ERROR(
        CheckTaskName(absl::StrCat("targets[", i, "]"), targets[i]));
    if (seen.insert(targets[i]).second) out.push_back(targets[i]);
  }
  return out;
}

}  // namespace

DependencyServiceImpl::DependencyServiceImpl(
    store::Database* db, CallRunner* runner,
    const store::DependencyStoreOptions& store_options)
    : store_(db, store_options), runner_(runner) {}

grpc::ServerUnaryReactor* DependencyServiceImpl::AddDependency(
    grpc::CallbackServerContext* context, const AddDependencyRequest* request,
    AddDependencyResponse* response) {
  return runner_->Run(
      context, "AddDependency", [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckTaskName("parent_task", request->parent_task()));
        RETURN_IF_ERROR(CheckTaskName("child_task", request->child_task()));
        RETURN_IF_ERROR(CheckRequestId("request_id", request->request_id()));
        ASSIGN_OR_RETURN(
            store::AddDependencyResult result,
            store_.Add(o, request->parent_task(), request->child_task()));
        *response->mutable_dependency() = std::move(result.dependency);
        response->set_created(result.created);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DependencyServiceImpl::RemoveDependency(
    grpc::CallbackServerContext* context,
    const RemoveDependencyRequest* request,
    RemoveDependencyResponse* response) {
  return runner_->Run(
      context, "RemoveDependency",
      [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckTaskName("parent_task", request->parent_task()));
        RETURN_IF_ERROR(CheckTaskName("child_task", request->child_task()));
        ASSIGN_OR_RETURN(
            *response->mutable_dependency(),
            store_.Remove(o, request->parent_task(), request->child_task()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DependencyServiceImpl::ListDependencies(
    grpc::CallbackServerContext* context,
    const ListDependenciesRequest* request,
    ListDependenciesResponse* response) {
  return runner_->Run(
      context, "ListDependencies",
      [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckTaskName("task", request->task()));
        store::EdgeDirection direction;
        switch (request->direction()) {
          case DIRECTION_PARENTS:
            direction = store::EdgeDirection::kParents;
            break;
          case DIRECTION_CHILDREN:
            direction = store::EdgeDirection::kChildren;
            break;
          default:
            return metad::InvalidFieldError(
                "direction",
                absl::StrCat("must be DIRECTION_PARENTS or DIRECTION_CHILDREN "
                             "(got ",
                             request->direction(), ")"));
        }
        ASSIGN_OR_RETURN(std::vector<Dependency> edges,
                         store_.List(o, request->task(), direction));
        for (Dependency& edge : edges) {
          *response->add_dependencies() = std::move(edge);
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DependencyServiceImpl::GetUpstream(
    grpc::CallbackServerContext* context, const GetUpstreamRequest* request,
    GetUpstreamResponse* response) {
  return runner_->Run(
      context, "GetUpstream", [=](const store::TxOptions& o) -> absl::Status {
        return Walk(o, *request, store::EdgeDirection::kParents, response);
      });
}

grpc::ServerUnaryReactor* DependencyServiceImpl::GetDownstream(
    grpc::CallbackServerContext* context, const GetDownstreamRequest* request,
    GetDownstreamResponse* response) {
  return runner_->Run(
      context, "GetDownstream", [=](const store::TxOptions& o) -> absl::Status {
        return Walk(o, *request, store::EdgeDirection::kChildren, response);
      });
}

template <typename Request, typename Response>
absl::Status DependencyServiceImpl::Walk(const store::TxOptions& o,
                                         const Request& request,
                                         store::EdgeDirection direction,
                                         Response* response) {
  RETURN_IF_ERROR(CheckTaskName("task", request.task()));
  RETURN_IF_ERROR(CheckMaxDepth(request.max_depth()));
  ASSIGN_OR_RETURN(
      std::vector<TaskAtDepth> tasks,
      store_.Walk(o, request.task(), direction, request.max_depth()));
  for (TaskAtDepth& t : tasks) *response->add_tasks() = std::move(t);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* DependencyServiceImpl::GetExecutionPlan(
    grpc::CallbackServerContext* context,
    const GetExecutionPlanRequest* request,
    GetExecutionPlanResponse* response) {
  return runner_->Run(context, "GetExecutionPlan",
                      [=](const store::TxOptions& o) -> absl::Status {
                        ASSIGN_OR_RETURN(std::vector<std::string> targets,
                                         CheckTargets(request->targets(), 1));
                        ASSIGN_OR_RETURN(std::vector<ExecutionLayer> layers,
                                         store_.ExecutionPlan(o, targets));
                        for (ExecutionLayer& l : layers)
                          *response->add_layers() = std::move(l);
                        return absl::OkStatus();
                      });
}

grpc::ServerUnaryReactor* DependencyServiceImpl::GetReadyTasks(
    grpc::CallbackServerContext* context, const GetReadyTasksRequest* request,
    GetReadyTasksResponse* response) {
  return runner_->Run(
      context, "GetReadyTasks", [=](const store::TxOptions& o) -> absl::Status {
        RETURN_IF_ERROR(CheckBatchId("batch_id", request->batch_id()));
        ASSIGN_OR_RETURN(std::vector<std::string> targets,
                         CheckTargets(request->targets(), 0));
        ASSIGN_OR_RETURN(std::vector<Task> tasks,
                         store_.ReadyTasks(o, request->batch_id(), targets));
        for (Task& t : tasks) *response->add_tasks() = std::move(t);
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
