// Server reflection that can describe every service it lists.
//
// gRPC 1.51's reflection plugin (InitProtoReflectionServerBuilderPlugin)
// lists every registered service but describes them from protobuf's
// generated descriptor pool, and it serves only
// grpc.reflection.v1alpha.ServerReflection. Two gaps follow:
//  - gRPC's default health service is not generated code, so nothing puts
//    grpc/health/v1/health.proto in that pool: reflection listed
//    grpc.health.v1.Health but answered "Symbol not found" for it, and
//    clients (grpcurl, buf curl) could neither call it nor list methods.
//  - clients that speak only grpc.reflection.v1 got UNIMPLEMENTED (grpcurl
//    and buf curl try v1 first, then fall back to v1alpha).
// CompleteReflection closes both. ReflectionV1Service answers v1 the way the
// plugin answers v1alpha (the two are the same messages in another package).
//
// gRPC added v1 to its own plugin in October 2023 (grpc/grpc#34599, first
// released in 1.60); there the service would be registered twice and
// BuildAndStart would fail, so CompleteReflection does not add it.
#ifndef METAD_DAEMON_RPC_REFLECTION_H_
#define METAD_DAEMON_RPC_REFLECTION_H_

#include <grpcpp/server_builder.h>

#include <atomic>
#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace metad::daemon {

// Call before BuildAndStart on a builder created after
// grpc::reflection::InitProtoReflectionServerBuilderPlugin(): makes
// grpc.health.v1 describable and registers grpc.reflection.v1, which lists
// the services the built server ends up with (health and both reflection
// services included).
void CompleteReflection(grpc::ServerBuilder* builder);

class ReflectionV1Service final
    : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // `services` (not owned, may be null) is read on every list_services
  // request. gRPC hands it over only after the server started, hence atomic.
  void set_service_list(const std::vector<std::string>* services) {
    services_.store(services, std::memory_order_release);
  }

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>*
          stream) override;

  // The answer to one request. Exposed for tests.
  grpc::reflection::v1::ServerReflectionResponse Answer(
      const grpc::reflection::v1::ServerReflectionRequest& request) const;

 private:
  std::atomic<const std::vector<std::string>*> services_{nullptr};
};

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_REFLECTION_H_
