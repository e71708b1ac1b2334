#include "daemon/task_service.h"

namespace metad::daemon {

TaskServiceImpl::TaskServiceImpl(store::Database* db, CallRunner* runner)
    : db_(db), runner_(runner) {}

}  // namespace metad::daemon
