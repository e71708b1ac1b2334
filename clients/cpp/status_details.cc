#include "clients/cpp/status_details.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/rpc/error_details.pb.h"

namespace metad::metactl {

google::rpc::Status RpcStatusOf(const grpc::Status& status) {
  google::rpc::Status rpc_status;
  if (status.error_details().empty() ||
      !rpc_status.ParseFromString(status.error_details())) {
    rpc_status.Clear();
    rpc_status.set_code(static_cast<int>(status.error_code()));
    rpc_status.set_message(status.error_message());
  }
  return rpc_status;
}

std::vector<std::string> DescribeDetails(const grpc::Status& status) {
  std::vector<std::string> lines;
  if (status.error_details().empty()) return lines;
  const google::rpc::Status rpc_status = RpcStatusOf(status);
  for (const google::protobuf::Any& any : rpc_status.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::PreconditionFailure failure;
    google::rpc::BadRequest bad_request;
    google::rpc::ResourceInfo resource;
    if (any.UnpackTo(&info)) {
      std::vector<std::string> metadata;
      // Sorted: a map's order is unspecified.
      std::map<std::string, std::string> sorted(info.metadata().begin(),
                                                info.metadata().end());
      for (const auto& [key, value] : sorted) {
        metadata.push_back(absl::StrCat(key, "=", value));
      }
      lines.push_back(absl::StrCat(
          "reason: ", info.reason(), " (", info.domain(), ")",
          metadata.empty() ? "" : " ", absl::StrJoin(metadata, " ")));
    } else if (any.UnpackTo(&failure)) {
      for (const auto& v : failure.violations()) {
        lines.push_back(absl::StrCat("unmet ", v.type(), " ", v.subject(), ": ",
                                     v.description()));
      }
    } else if (any.UnpackTo(&bad_request)) {
      for (const auto& v : bad_request.field_violations()) {
        lines.push_back(
            absl::StrCat("field ", v.field(), ": ", v.description()));
      }
    } else if (any.UnpackTo(&resource)) {
      lines.push_back(absl::StrCat("resource: ", resource.resource_type(), " ",
                                   resource.resource_name()));
    } else {
      lines.push_back(absl::StrCat("detail: ", any.type_url()));
    }
  }
  return lines;
}

}  // namespace metad::metactl
