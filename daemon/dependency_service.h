// metad.v1.DependencyService: decode, validate, call the dependency store, map status.
#ifndef METAD_DAEMON_DEPENDENCY_SERVICE_H_
#define METAD_DAEMON_DEPENDENCY_SERVICE_H_

#include "daemon/call_runner.h"
#include "metad/v1/dependencies.grpc.pb.h"
#include "store/database.h"

namespace metad::daemon {

class DependencyServiceImpl final : public metad::v1::DependencyService::CallbackService {
 public:
  DependencyServiceImpl(store::Database* db, CallRunner* runner);

 private:
  store::Database* db_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_DEPENDENCY_SERVICE_H_
