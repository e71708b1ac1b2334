#include "daemon/dependency_service.h"

namespace metad::daemon {

DependencyServiceImpl::DependencyServiceImpl(store::Database* db, CallRunner* runner)
    : db_(db), runner_(runner) {}

}  // namespace metad::daemon
