#include "daemon/task_log_service.h"

namespace metad::daemon {

TaskLogServiceImpl::TaskLogServiceImpl(store::Database* db, CallRunner* runner)
    : db_(db), runner_(runner) {}

}  // namespace metad::daemon
