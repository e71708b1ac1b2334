// Reads a timestamp column (selected as metad_us(t): microseconds since the
// Unix epoch, see migrations/0001) into a google.protobuf.Timestamp.
#ifndef METAD_STORE_PROTO_TIME_H_
#define METAD_STORE_PROTO_TIME_H_

#include <pqxx/pqxx>

#include "common/proto_time.h"

namespace metad::store {

using metad::MicrosToTimestamp;
using metad::TimestampToMicros;

// Sets *ts from a metad_us(...) column; leaves it untouched when NULL.
inline void ReadTime(const pqxx::field& field,
                     google::protobuf::Timestamp* ts) {
  if (!field.is_null()) MicrosToTimestamp(field.as<int64_t>(), ts);
}

}  // namespace metad::store

#endif  // METAD_STORE_PROTO_TIME_H_
