// The google.rpc.Status details metad sends with a refusal (the
// grpc-status-details-bin trailer): decoded for people and for scripts.
#ifndef METAD_CLIENTS_CPP_STATUS_DETAILS_H_
#define METAD_CLIENTS_CPP_STATUS_DETAILS_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "google/rpc/status.pb.h"

namespace metad::metactl {

// The google.rpc.Status in `status`, or one with just its code and message
// when it carries none (or an unreadable one).
google::rpc::Status RpcStatusOf(const grpc::Status& status);

// One line per detail, e.g. "reason: PARENTS_NOT_SUCCEEDED (metad.dev)",
// "unmet DEPENDENCY load_sales: load_sales has no SUCCESS run in batch b1",
// "field file.source: must be 1..256 bytes (got 0)",
// "resource: metad.v1.Task nope". Empty without details.
std::vector<std::string> DescribeDetails(const grpc::Status& status);

}  // namespace metad::metactl

#endif  // METAD_CLIENTS_CPP_STATUS_DETAILS_H_
