// Durations a request sets (Task.expected_duration, a source's max_age).
#ifndef METAD_DAEMON_RPC_DURATION_CHECK_H_
#define METAD_DAEMON_RPC_DURATION_CHECK_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/duration.pb.h"

namespace metad::daemon {

// The longest expected duration or max_age: 366 days.
inline constexpr int64_t kMaxExpectedSeconds = int64_t{366} * 86400;

// `d` in microseconds, when it is positive, at most kMaxExpectedSeconds and
// whole microseconds (what PostgreSQL's interval keeps); INVALID_ARGUMENT
// naming `field` otherwise.
absl::Status CheckPositiveDuration(absl::string_view field,
                                   const google::protobuf::Duration& d,
                                   int64_t* micros);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_DURATION_CHECK_H_
