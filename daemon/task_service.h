// metad.v1.TaskService: decode, validate, call the task store, map status.
#ifndef METAD_DAEMON_TASK_SERVICE_H_
#define METAD_DAEMON_TASK_SERVICE_H_

#include "daemon/call_runner.h"
#include "metad/v1/tasks.grpc.pb.h"
#include "store/database.h"

namespace metad::daemon {

class TaskServiceImpl final : public metad::v1::TaskService::CallbackService {
 public:
  TaskServiceImpl(store::Database* db, CallRunner* runner);

 private:
  store::Database* db_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_TASK_SERVICE_H_
