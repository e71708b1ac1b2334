// String maps (run labels, file attributes) as the JSON objects of strings
// their jsonb columns hold. Built and parsed by protobuf's JSON support,
// never by hand.
#ifndef METAD_STORE_STRING_MAP_JSON_H_
#define METAD_STORE_STRING_MAP_JSON_H_

#include <google/protobuf/map.h>

#include <string>

#include "absl/status/status.h"

namespace metad::store {

// "{}" for an empty map. The strings must be valid UTF-8 (validated by the
// daemon before they reach the store).
std::string StringMapJson(
    const google::protobuf::Map<std::string, std::string>& map);

// Parses a JSON object (jsonb's text) into *out; a value that is not a
// string (only a hand-edited row holds one) is shown as its JSON. `what`
// names the column in the error for an unreadable value.
absl::Status ReadStringMapJson(
    const char* json, const char* what,
    google::protobuf::Map<std::string, std::string>* out);

}  // namespace metad::store

#endif  // METAD_STORE_STRING_MAP_JSON_H_
