// Input checks shared by the services. Each returns INVALID_ARGUMENT with a
// message that names the field and the rule, e.g.
//   "file_name: must be 1..1024 bytes (got 0)".
#ifndef METAD_DAEMON_RPC_VALIDATION_H_
#define METAD_DAEMON_RPC_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/rpc/limits.h"
#include "google/protobuf/timestamp.pb.h"

namespace metad::daemon {

// Valid UTF-8, no NUL (PostgreSQL text cannot hold it), length in bytes
// within [min_bytes, max_bytes].
absl::Status CheckText(absl::string_view field, absl::string_view value,
                       size_t min_bytes, size_t max_bytes);

// CheckText plus: no control characters (tabs and newlines included).
absl::Status CheckLabel(absl::string_view field, absl::string_view value,
                        size_t min_bytes, size_t max_bytes);

// Task names: 1..128 characters of [A-Za-z0-9_.:-].
absl::Status CheckTaskName(absl::string_view field, absl::string_view value);

// Batch ids: a label of 1..128 bytes.
absl::Status CheckBatchId(absl::string_view field, absl::string_view value);

// Ids are positive.
absl::Status CheckId(absl::string_view field, int64_t id);

// Optional request ids: at most 128 bytes, a label when present.
absl::Status CheckRequestId(absl::string_view field, absl::string_view value);

// AIP-158 page sizes: 0 -> kDefaultPageSize; 1..kMaxPageSize as is; above
// kMaxPageSize coerced to it; negative refused (INVALID_ARGUMENT naming
// `field`).
absl::Status CheckPageSize(absl::string_view field, int32_t page_size,
                           int32_t* effective);

// The same with the RPC's own default and maximum.
absl::Status CheckPageSize(absl::string_view field, int32_t page_size,
                           int32_t default_size, int32_t max_size,
                           int32_t* effective);

// A google.protobuf.Timestamp within the range the type defines
// (0001-01-01 .. 9999-12-31, nanos 0..999999999).
absl::Status CheckTimestamp(absl::string_view field,
                            const google::protobuf::Timestamp& ts);

// For an optional time filter: unset gives nullopt; set is checked as
// CheckTimestamp does and given in microseconds since the epoch.
absl::Status CheckOptionalTimestamp(absl::string_view field, bool present,
                                    const google::protobuf::Timestamp& ts,
                                    std::optional<int64_t>* micros);

bool IsValidUtf8(absl::string_view text);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_VALIDATION_H_
