// Machine-readable error details. A store or service attaches google.rpc
// detail messages (ErrorInfo, PreconditionFailure, BadRequest, ResourceInfo)
// to an absl::Status as payloads keyed by their type URL; the daemon sends
// them as google.rpc.Status details in the grpc-status-details-bin trailer
// (daemon/rpc/grpc_status.cc). The message stays the human-readable text.
// docs/errors.md lists every reason and what comes with it.
#ifndef METAD_COMMON_ERROR_DETAILS_H_
#define METAD_COMMON_ERROR_DETAILS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace metad {

// ErrorInfo.domain of every metad error.
inline constexpr char kErrorDomain[] = "metad.dev";
// Type URL prefix of the google.rpc detail payloads.
inline constexpr char kGoogleRpcTypeUrlPrefix[] =
    "type.googleapis.com/google.rpc.";

// Stable ErrorInfo.reason values: clients branch on these, never on the
// message text. Renaming one breaks clients.
namespace reason {
inline constexpr char kParentsNotSucceeded[] = "PARENTS_NOT_SUCCEEDED";
inline constexpr char kRunInProgress[] = "RUN_IN_PROGRESS";
inline constexpr char kAlreadySucceeded[] = "ALREADY_SUCCEEDED";
inline constexpr char kAttemptsExhausted[] = "ATTEMPTS_EXHAUSTED";
inline constexpr char kRequestIdReused[] = "REQUEST_ID_REUSED";
inline constexpr char kDependencyCycle[] = "DEPENDENCY_CYCLE";
inline constexpr char kRunEnded[] = "RUN_ENDED";
inline constexpr char kRunCancelled[] = "RUN_CANCELLED";
inline constexpr char kLeaseExpired[] = "LEASE_EXPIRED";
inline constexpr char kFileNotHeld[] = "FILE_NOT_HELD";
inline constexpr char kFileNotInError[] = "FILE_NOT_IN_ERROR";
inline constexpr char kFileNotFinal[] = "FILE_NOT_FINAL";
inline constexpr char kTaskInUse[] = "TASK_IN_USE";
inline constexpr char kEtagMismatch[] = "ETAG_MISMATCH";
inline constexpr char kConcurrencyLimit[] = "CONCURRENCY_LIMIT";
inline constexpr char kNotFound[] = "NOT_FOUND";
inline constexpr char kInvalidArgument[] = "INVALID_ARGUMENT";
}  // namespace reason

// ResourceInfo.resource_type values.
namespace resource {
inline constexpr char kTask[] = "metad.v1.Task";
inline constexpr char kRun[] = "metad.v1.Run";
inline constexpr char kFile[] = "metad.v1.File";
inline constexpr char kDependency[] = "metad.v1.Dependency";
inline constexpr char kBatch[] = "metad.v1.Batch";
}  // namespace resource

using Metadata = std::vector<std::pair<std::string, std::string>>;

// One google.rpc.PreconditionFailure.Violation.
struct Violation {
  std::string type;
  std::string subject;
  std::string description;
};

// Adds google.rpc.ErrorInfo{reason, domain: kErrorDomain, metadata},
// replacing an earlier one. No-op on an OK status.
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           const Metadata& metadata = {});

// Appends violations to the status's google.rpc.PreconditionFailure.
absl::Status WithPreconditionFailure(absl::Status status,
                                     const std::vector<Violation>& violations);

// Adds google.rpc.ResourceInfo, replacing an earlier one.
absl::Status WithResourceInfo(absl::Status status,
                              absl::string_view resource_type,
                              absl::string_view resource_name,
                              absl::string_view description = "");

// INVALID_ARGUMENT with the message "<field>: <rule>", a google.rpc.BadRequest
// whose one field violation names `field` (a path such as "files[3].source"),
// and ErrorInfo reason INVALID_ARGUMENT.
absl::Status InvalidFieldError(absl::string_view field, absl::string_view rule);

// NOT_FOUND with `message`, ResourceInfo{resource_type, resource_name} and
// ErrorInfo reason NOT_FOUND.
absl::Status NotFoundResourceError(absl::string_view resource_type,
                                   absl::string_view resource_name,
                                   absl::string_view message);

// FAILED_PRECONDITION for a call on run `run_id` that has ended as `status`
// (SUCCESS or ERROR): ErrorInfo RUN_ENDED {run_id, status}.
absl::Status RunEndedError(int64_t run_id, absl::string_view status,
                           absl::string_view message);

// FAILED_PRECONDITION for a call on run `run_id` that CancelRun ended (where
// RUN_ENDED would be said of a run that ended otherwise): ErrorInfo
// RUN_CANCELLED {run_id}.
absl::Status RunCancelledError(int64_t run_id, absl::string_view message);

// FAILED_PRECONDITION for a call on run `run_id` whose lease lapsed:
// ErrorInfo LEASE_EXPIRED {run_id}.
absl::Status LeaseExpiredError(int64_t run_id, absl::string_view message);

}  // namespace metad

#endif  // METAD_COMMON_ERROR_DETAILS_H_
