#include "daemon/rpc/grpc_status.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "common/error_details.h"
#include "google/rpc/status.pb.h"

namespace metad::daemon {
namespace {

// Clients refuse trailers over 8 KiB by default (GRPC_ARG_MAX_METADATA_SIZE),
// and the details repeat the message: past this budget for the two
// (grpc-message percent-encoded, the details base64-encoded) they are left
// out, so a long message (one that quotes a 4 KiB error_message) still
// arrives.
constexpr size_t kTrailerBudgetBytes = 6144;

size_t EncodedSize(const std::string& message, size_t details_bytes) {
  size_t size = 0;
  for (unsigned char c : message) {
    size += (c >= 0x20 && c < 0x7F && c != '%') ? 1 : 3;
  }
  return size + (details_bytes + 2) / 3 * 4;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message(status.message());
  // The google.rpc payloads attached by common/error_details.h become the
  // details of a google.rpc.Status, sorted by type for a stable order.
  std::vector<std::pair<std::string, std::string>> details;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (absl::StartsWith(url, metad::kGoogleRpcTypeUrlPrefix)) {
      details.emplace_back(std::string(url), std::string(value));
    }
  });
  if (details.empty()) return grpc::Status(code, message);
  std::sort(details.begin(), details.end());
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(code));
  rpc_status.set_message(message);
  for (auto& [url, value] : details) {
    google::protobuf::Any* any = rpc_status.add_details();
    any->set_type_url(std::move(url));
    any->set_value(std::move(value));
  }
  std::string serialized = rpc_status.SerializeAsString();
  if (EncodedSize(message, serialized.size()) > kTrailerBudgetBytes) {
    return grpc::Status(code, message);
  }
  return grpc::Status(code, message, std::move(serialized));
}

}  // namespace metad::daemon
