// absl::Status (store and service code) to grpc::Status (the wire).
#ifndef METAD_DAEMON_RPC_GRPC_STATUS_H_
#define METAD_DAEMON_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace metad::daemon {

// The canonical codes are numbered alike in both. The google.rpc detail
// payloads of `status` (common/error_details.h) go out as a serialized
// google.rpc.Status in error_details (the grpc-status-details-bin trailer),
// with the same code and message; left out when they would make the
// trailers too large for a client's default metadata limit.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_GRPC_STATUS_H_
