// metad.v1.TaskService: decode, validate, call the task store, map status.
#ifndef METAD_DAEMON_SERVICES_TASK_SERVICE_H_
#define METAD_DAEMON_SERVICES_TASK_SERVICE_H_

#include "daemon/rpc/call_runner.h"
#include "daemon/rpc/limits.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "store/database.h"
#include "store/task_store.h"

namespace metad::daemon {

// Limits of the task registry (documented in tasks.proto).

class TaskServiceImpl final : public metad::v1::TaskService::CallbackService {
 public:
  TaskServiceImpl(store::Database* db, CallRunner* runner);

  // INVALID_ARGUMENT for a malformed name, an oversized description, or
  // settings out of range; see TaskStore::Register.
  grpc::ServerUnaryReactor* RegisterTask(
      grpc::CallbackServerContext* context,
      const metad::v1::RegisterTaskRequest* request,
      metad::v1::RegisterTaskResponse* response) override;

  // INVALID_ARGUMENT for a bad name, mask path or value; NOT_FOUND if no
  // such task; ABORTED (ETAG_MISMATCH) when the etag is stale. See
  // TaskStore::Update.
  grpc::ServerUnaryReactor* UpdateTask(
      grpc::CallbackServerContext* context,
      const metad::v1::UpdateTaskRequest* request,
      metad::v1::Task* response) override;

  // INVALID_ARGUMENT when neither id nor name is set (or is malformed);
  // NOT_FOUND if no such task.
  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* context,
                                    const metad::v1::GetTaskRequest* request,
                                    metad::v1::Task* response) override;

  // INVALID_ARGUMENT for a bad page_size, name_prefix or page_token.
  grpc::ServerUnaryReactor* ListTasks(
      grpc::CallbackServerContext* context,
      const metad::v1::ListTasksRequest* request,
      metad::v1::ListTasksResponse* response) override;

  // INVALID_ARGUMENT as GetTask; NOT_FOUND if no such task;
  // FAILED_PRECONDITION when it has runs or dependencies.
  grpc::ServerUnaryReactor* DeleteTask(
      grpc::CallbackServerContext* context,
      const metad::v1::DeleteTaskRequest* request,
      metad::v1::DeleteTaskResponse* response) override;
  grpc::ServerUnaryReactor* ListTaskEvents(
      grpc::CallbackServerContext* context,
      const metad::v1::ListTaskEventsRequest* request,
      metad::v1::ListTaskEventsResponse* response) override;

 private:
  store::TaskStore store_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_TASK_SERVICE_H_
