#include "daemon/rpc/duration_check.h"

#include "absl/strings/str_cat.h"
#include "common/error_details.h"

namespace metad::daemon {

absl::Status CheckPositiveDuration(absl::string_view field,
                                   const google::protobuf::Duration& d,
                                   int64_t* micros) {
  const std::string rule =
      absl::StrCat("must be positive and at most ", kMaxExpectedSeconds,
                   "s (366 days), in whole microseconds (got ", d.seconds(),
                   "s ", d.nanos(), "ns)");
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 ||
      (d.seconds() == 0 && d.nanos() < 1000) ||
      d.seconds() > kMaxExpectedSeconds ||
      (d.seconds() == kMaxExpectedSeconds && d.nanos() > 0) ||
      d.nanos() % 1000 != 0) {
    return metad::InvalidFieldError(field, rule);
  }
  *micros = d.seconds() * 1000000 + d.nanos() / 1000;
  return absl::OkStatus();
}

}  // namespace metad::daemon
