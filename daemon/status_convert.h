// absl::Status (store and service code) to grpc::Status (the wire).
#ifndef METAD_DAEMON_STATUS_CONVERT_H_
#define METAD_DAEMON_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace metad::daemon {

// The canonical codes are numbered alike in both.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_STATUS_CONVERT_H_
