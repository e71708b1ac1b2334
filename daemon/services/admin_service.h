// metad.v1.AdminService: decode, validate, prune
// (daemon/background/retention.h), map status. The rules and codes are
// documented in proto/metad/v1/admin.proto.
#ifndef METAD_DAEMON_SERVICES_ADMIN_SERVICE_H_
#define METAD_DAEMON_SERVICES_ADMIN_SERVICE_H_

#include "daemon/rpc/call_runner.h"
#include "metad/v1/admin.grpc.pb.h"
#include "store/database.h"
#include "store/retention_store.h"

namespace metad::daemon {

class AdminServiceImpl final : public metad::v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(store::Database* db, CallRunner* runner);

  grpc::ServerUnaryReactor* PruneHistory(
      grpc::CallbackServerContext* context,
      const metad::v1::PruneHistoryRequest* request,
      metad::v1::PruneHistoryResponse* response) override;

 private:
  store::RetentionStore store_;
  CallRunner* runner_;
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_SERVICES_ADMIN_SERVICE_H_
