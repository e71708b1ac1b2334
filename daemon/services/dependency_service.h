// metad.v1.DependencyService: decode, validate, call the dependency store,
// map status.
#ifndef METAD_DAEMON_SERVICES_DEPENDENCY_SERVICE_H_
#define METAD_DAEMON_SERVICES_DEPENDENCY_SERVICE_H_

#include "daemon/rpc/call_runner.h"
#include "daemon/rpc/limits.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "store/database.h"
#include "store/dependency_store.h"

namespace metad::daemon {

// Limits (documented in dependencies.proto).

// Every RPC: INVALID_ARGUMENT for a malformed task name (naming the field),
// NOT_FOUND for an unknown task (naming it).
class DependencyServiceImpl final
    : public metad::v1::DependencyService::CallbackService {
 public:
  DependencyServiceImpl(
      store::Database* db, CallRunner* runner,
      const store::DependencyStoreOptions& store_options = {});

  // FAILED_PRECONDITION for a self-edge or an edge closing a cycle (the
  // message names the cycle); an existing edge is returned, created=false.
  grpc::ServerUnaryReactor* AddDependency(
      grpc::CallbackServerContext* context,
      const metad::v1::AddDependencyRequest* request,
      metad::v1::AddDependencyResponse* response) override;

  // NOT_FOUND when the edge does not exist.
  grpc::ServerUnaryReactor* RemoveDependency(
      grpc::CallbackServerContext* context,
      const metad::v1::RemoveDependencyRequest* request,
      metad::v1::RemoveDependencyResponse* response) override;

  // INVALID_ARGUMENT when direction is unspecified or unknown.
  grpc::ServerUnaryReactor* ListDependencies(
      grpc::CallbackServerContext* context,
      const metad::v1::ListDependenciesRequest* request,
      metad::v1::ListDependenciesResponse* response) override;

  // INVALID_ARGUMENT when max_depth is outside 0..1000.
  grpc::ServerUnaryReactor* GetUpstream(
      grpc::CallbackServerContext* context,
      const metad::v1::GetUpstreamRequest* request,
      metad::v1::GetUpstreamResponse* response) override;

  // INVALID_ARGUMENT when max_depth is outside 0..1000.
  grpc::ServerUnaryReactor* GetDownstream(
      grpc::CallbackServerContext* context,
      const metad::v1::GetDownstreamRequest* request,
      metad::v1::GetDownstreamResponse* response) override;

  // INVALID_ARGUMENT unless 1..1000 targets are named.
  grpc::ServerUnaryReactor* GetExecutionPlan(
      grpc::CallbackServerContext* context,
      const metad::v1::GetExecutionPlanRequest* request,
      metad::v1::GetExecutionPlanResponse* response) override;

  // INVALID_ARGUMENT for a malformed batch_id or more than 1000 targets.
  grpc::ServerUnaryReactor* GetReadyTasks(
      grpc::CallbackServerContext* context,
      const metad::v1::GetReadyTasksRequest* request,
      metad::v1::GetReadyTasksResponse* response) override;

 private:
  // GetUpstream and GetDownstream: validate, walk, fill the response.
  template <typename Request, typename Response>
  absl::Status Walk(const store::TxOptions& o, const Request& request,
                    store::EdgeDirection direction, Response* response);

  store::DependencyStore store_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_DEPENDENCY_SERVICE_H_
