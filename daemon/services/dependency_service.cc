#include "daemon/services/dependency_service.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/page_token.h"
#include "daemon/rpc/validation.h"
#include "google/protobuf/unknown_field_set.h"

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

absl::Status CheckGraphPageSize(int32_t page_size, int32_t* effective) {
  return CheckPageSize("page_size", page_size, kDefaultGraphPageSize,
                       kMaxGraphPageSize, effective);
}

// The keyset page of an answer computed whole (a walk's depths and a
// plan's layers need the whole closure anyway): the items whose key is
// above `after` (every item when `after` is empty), at most `page_size`;
// `*more` tells whether items are left after them. `keys` ascend.
std::pair<size_t, size_t> KeysetSlice(
    const std::vector<std::vector<int64_t>>& keys,
    const std::vector<int64_t>& after, int32_t page_size, bool* more) {
  size_t begin = 0;
  if (!after.empty()) {
    begin = std::upper_bound(keys.begin(), keys.end(), after) - keys.begin();
  }
  const size_t end = std::min(keys.size(), begin + page_size);
  *more = end < keys.size();
  return {begin, end};
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
        int32_t page_size = 0;
        RETURN_IF_ERROR(CheckGraphPageSize(request->page_size(), &page_size));
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        // One more than the page, to know whether another page follows.
        ASSIGN_OR_RETURN(std::vector<Dependency> edges,
                         store_.List(o, request->task(), direction, after,
                                     int64_t{page_size} + 1));
        if (edges.size() > static_cast<size_t>(page_size)) {
          edges.resize(page_size);
          const Dependency& last = edges.back();
          response->set_next_page_token(
              EncodePageToken(direction == store::EdgeDirection::kParents
                                  ? last.parent_task_id()
                                  : last.child_task_id(),
                              fingerprint));
        }
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
  int32_t page_size = 0;
  RETURN_IF_ERROR(CheckGraphPageSize(request.page_size(), &page_size));
  const uint64_t fingerprint = FilterFingerprint(request);
  ASSIGN_OR_RETURN(
      std::vector<int64_t> after,
      DecodeKeyPageToken("page_token", request.page_token(), fingerprint, 2));
  ASSIGN_OR_RETURN(
      std::vector<TaskAtDepth> tasks,
      store_.Walk(o, request.task(), direction, request.max_depth()));
  std::vector<std::vector<int64_t>> keys;
  keys.reserve(tasks.size());
  for (const TaskAtDepth& t : tasks) keys.push_back({t.depth(), t.task().id()});
  bool more = false;
  auto [begin, end] = KeysetSlice(keys, after, page_size, &more);
  for (size_t i = begin; i < end; ++i) {
    *response->add_tasks() = std::move(tasks[i]);
  }
  if (more) {
    response->set_next_page_token(
        EncodeKeyPageToken(keys[end - 1], fingerprint));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* DependencyServiceImpl::GetExecutionPlan(
    grpc::CallbackServerContext* context,
    const GetExecutionPlanRequest* request,
    GetExecutionPlanResponse* response) {
  return runner_->Run(
      context, "GetExecutionPlan",
      [=](const store::TxOptions& o) -> absl::Status {
        ASSIGN_OR_RETURN(std::vector<std::string> targets,
                         CheckTargets(request->targets(), 1));
        int32_t page_size = 0;
        RETURN_IF_ERROR(CheckGraphPageSize(request->page_size(), &page_size));
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(std::vector<int64_t> after,
                         DecodeKeyPageToken("page_token", request->page_token(),
                                            fingerprint, 2));
        ASSIGN_OR_RETURN(std::vector<ExecutionLayer> layers,
                         store_.ExecutionPlan(o, targets));
        // The plan flattened in (layer, task id) order.
        std::vector<std::vector<int64_t>> keys;
        std::vector<Task*> tasks;
        for (size_t l = 0; l < layers.size(); ++l) {
          for (Task& t : *layers[l].mutable_tasks()) {
            keys.push_back({static_cast<int64_t>(l), t.id()});
            tasks.push_back(&t);
          }
        }
        bool more = false;
        auto [begin, end] = KeysetSlice(keys, after, page_size, &more);
        ExecutionLayer* layer = nullptr;
        for (size_t i = begin; i < end; ++i) {
          if (layer == nullptr || layer->index() != keys[i][0]) {
            layer = response->add_layers();
            layer->set_index(static_cast<int32_t>(keys[i][0]));
          }
          *layer->add_tasks() = std::move(*tasks[i]);
        }
        if (more) {
          response->set_next_page_token(
              EncodeKeyPageToken(keys[end - 1], fingerprint));
        }
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
        int32_t page_size = 0;
        RETURN_IF_ERROR(CheckGraphPageSize(request->page_size(), &page_size));
        const uint64_t fingerprint = FilterFingerprint(*request);
        ASSIGN_OR_RETURN(
            int64_t after,
            DecodePageToken("page_token", request->page_token(), fingerprint));
        // One more than the page, to know whether another page follows.
        ASSIGN_OR_RETURN(store::ReadyPage page,
                         store_.ReadyTasksPage(o, request->batch_id(), targets,
                                               after, int64_t{page_size} + 1));
        size_t n = page.size();
        if (n > static_cast<size_t>(page_size)) {
          n = page_size;
          response->set_next_page_token(
              EncodePageToken(page.IdAt(n - 1), fingerprint));
        }
        if (page.answer) {
          // A held answer goes out as the wire form of its tasks, added as
          // fields the message does not parse itself: on the wire they are
          // exactly the `tasks` entries (field 1), in order, and the daemon
          // never reads this response back.
          const std::vector<std::string>& encoded = page.answer->Encoded();
          google::protobuf::UnknownFieldSet* wire =
              response->GetReflection()->MutableUnknownFields(response);
          for (size_t k = 0; k < n; ++k) {
            wire->AddLengthDelimited(GetReadyTasksResponse::kTasksFieldNumber,
                                     encoded[page.begin + k]);
          }
        } else {
          for (size_t k = 0; k < n; ++k) {
            *response->add_tasks() = std::move(page.tasks[k]);
          }
        }
        return absl::OkStatus();
      });
}

}  // namespace metad::daemon
