#include "daemon/file_service.h"

namespace metad::daemon {

FileServiceImpl::FileServiceImpl(store::Database* db, CallRunner* runner)
    : db_(db), runner_(runner) {}

}  // namespace metad::daemon
