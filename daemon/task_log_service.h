// metad.v1.TaskLogService: decode, validate, call the run store, map status.
#ifndef METAD_DAEMON_TASK_LOG_SERVICE_H_
#define METAD_DAEMON_TASK_LOG_SERVICE_H_

#include "daemon/call_runner.h"
#include "metad/v1/task_log.grpc.pb.h"
#include "store/database.h"

namespace metad::daemon {

class TaskLogServiceImpl final : public metad::v1::TaskLogService::CallbackService {
 public:
  TaskLogServiceImpl(store::Database* db, CallRunner* runner);

 private:
  store::Database* db_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_TASK_LOG_SERVICE_H_
