// google.protobuf.Timestamp <-> microseconds since the Unix epoch (how the
// stores carry times: PostgreSQL's resolution), and the Timestamp's range.
#ifndef METAD_COMMON_PROTO_TIME_H_
#define METAD_COMMON_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>

namespace metad {

// 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z: the range
// google.protobuf.Timestamp defines.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;

inline void MicrosToTimestamp(int64_t micros, google::protobuf::Timestamp* ts) {
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {  // floor division for times before 1970
    rest += 1000000;
    --seconds;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(rest * 1000));
}

inline int64_t TimestampToMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

}  // namespace metad

#endif  // METAD_COMMON_PROTO_TIME_H_
