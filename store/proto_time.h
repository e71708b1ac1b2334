// Timestamps between PostgreSQL (selected as metad_us(t): microseconds since
// the Unix epoch, see migrations/0001) and google.protobuf.Timestamp.
#ifndef METAD_STORE_PROTO_TIME_H_
#define METAD_STORE_PROTO_TIME_H_

#include <cstdint>

#include <google/protobuf/timestamp.pb.h>
#include <pqxx/pqxx>

namespace metad::store {

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

// Sets *ts from a metad_us(...) column; leaves it untouched when NULL.
inline void ReadTime(const pqxx::field& field,
                     google::protobuf::Timestamp* ts) {
  if (!field.is_null()) MicrosToTimestamp(field.as<int64_t>(), ts);
}

}  // namespace metad::store

#endif  // METAD_STORE_PROTO_TIME_H_
