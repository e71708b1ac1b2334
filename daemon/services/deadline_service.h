// metad.v1.DeadlineService: decode, validate, call store::DeadlineStore,
// answer. The rules and codes are documented in
// proto/metad/v1/deadlines.proto.
#ifndef METAD_DAEMON_SERVICES_DEADLINE_SERVICE_H_
#define METAD_DAEMON_SERVICES_DEADLINE_SERVICE_H_

#include "daemon/rpc/call_runner.h"
#include "metad/v1/deadlines.grpc.pb.h"
#include "store/database.h"
#include "store/deadline_store.h"

namespace metad::daemon {

class DeadlineServiceImpl final
    : public metad::v1::DeadlineService::CallbackService {
 public:
  DeadlineServiceImpl(store::Database* db, CallRunner* runner);

  grpc::ServerUnaryReactor* SetBatchDeadline(
      grpc::CallbackServerContext* context,
      const metad::v1::SetBatchDeadlineRequest* request,
      metad::v1::SetBatchDeadlineResponse* response) override;
  grpc::ServerUnaryReactor* SetSourceFreshness(
      grpc::CallbackServerContext* context,
      const metad::v1::SetSourceFreshnessRequest* request,
      metad::v1::SourceFreshness* response) override;
  grpc::ServerUnaryReactor* ListAlerts(
      grpc::CallbackServerContext* context,
      const metad::v1::ListAlertsRequest* request,
      metad::v1::ListAlertsResponse* response) override;

 private:
  store::DeadlineStore store_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_DEADLINE_SERVICE_H_
