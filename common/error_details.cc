#include "common/error_details.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace metad {
namespace {

template <typename Message>
std::string TypeUrl() {
  return absl::StrCat("type.googleapis.com/",
                      Message::descriptor()->full_name());
}

template <typename Message>
void SetDetail(absl::Status& status, const Message& detail) {
  status.SetPayload(TypeUrl<Message>(), absl::Cord(detail.SerializeAsString()));
}

// The detail of that type already attached, or an empty one.
template <typename Message>
Message GetDetail(const absl::Status& status) {
  Message detail;
  if (auto payload = status.GetPayload(TypeUrl<Message>())) {
    detail.ParseFromString(std::string(*payload));
  }
  return detail;
}

}  // namespace

absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const Metadata& metadata) {
  if (status.ok()) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  for (const auto& [key, value] : metadata) {
    (*info.mutable_metadata())[key] = value;
  }
  SetDetail(status, info);
  return status;
}

absl::Status WithPreconditionFailure(absl::Status status,
                                     const std::vector<Violation>& violations) {
  if (status.ok()) return status;
  auto failure = GetDetail<google::rpc::PreconditionFailure>(status);
  for (const Violation& v : violations) {
    google::rpc::PreconditionFailure::Violation* out = failure.add_violations();
    out->set_type(v.type);
    out->set_subject(v.subject);
    out->set_description(v.description);
  }
  SetDetail(status, failure);
  return status;
}

absl::Status WithResourceInfo(absl::Status status,
                              absl::string_view resource_type,
                              absl::string_view resource_name,
                              absl::string_view description) {
  if (status.ok()) return status;
  google::rpc::ResourceInfo info;
  info.set_resource_type(std::string(resource_type));
  info.set_resource_name(std::string(resource_name));
  info.set_description(std::string(description));
  SetDetail(status, info);
  return status;
}

absl::Status InvalidFieldError(absl::string_view field,
                               absl::string_view rule) {
  absl::Status status =
      absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
  google::rpc::BadRequest bad_request;
  google::rpc::BadRequest::FieldViolation* violation =
      bad_request.add_field_violations();
  violation->set_field(std::string(field));
  violation->set_description(std::string(rule));
  SetDetail(status, bad_request);
  return WithErrorInfo(std::move(status), reason::kInvalidArgument,
                       {{"field", std::string(field)}});
}

absl::Status NotFoundResourceError(absl::string_view resource_type,
                                   absl::string_view resource_name,
                                   absl::string_view message) {
  absl::Status status = absl::NotFoundError(message);
  status = WithResourceInfo(std::move(status), resource_type, resource_name);
  return WithErrorInfo(std::move(status), reason::kNotFound,
                       {{"resource_type", std::string(resource_type)},
                        {"resource_name", std::string(resource_name)}});
}

absl::Status RunEndedError(int64_t run_id, absl::string_view status,
                           absl::string_view message) {
  return WithErrorInfo(
      absl::FailedPreconditionError(message), reason::kRunEnded,
      {{"run_id", absl::StrCat(run_id)}, {"status", std::string(status)}});
}

absl::Status RunCancelledError(int64_t run_id, absl::string_view message) {
  return WithErrorInfo(absl::FailedPreconditionError(message),
                       reason::kRunCancelled,
                       {{"run_id", absl::StrCat(run_id)}});
}

absl::Status LeaseExpiredError(int64_t run_id, absl::string_view message) {
  return WithErrorInfo(absl::FailedPreconditionError(message),
                       reason::kLeaseExpired,
                       {{"run_id", absl::StrCat(run_id)}});
}

}  // namespace metad
