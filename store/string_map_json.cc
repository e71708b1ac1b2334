#include "store/string_map_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "store/sql.h"

namespace metad::store {

std::string StringMapJson(
    const google::protobuf::Map<std::string, std::string>& map) {
  if (map.empty()) return "{}";
  google::protobuf::Struct object;
  for (const auto& [key, value] : map) {
    (*object.mutable_fields())[key].set_string_value(value);
  }
  std::string json;
  // Cannot fail for a Struct of strings of valid UTF-8.
  if (!google::protobuf::util::MessageToJsonString(object, &json).ok()) {
    return "{}";
  }
  return json;
}

absl::Status ReadStringMapJson(
    const char* json, const char* what,
    google::protobuf::Map<std::string, std::string>* out) {
  // Most rows hold no attributes or labels: no parser for those.
  if (std::strcmp(json, "{}") == 0) return absl::OkStatus();
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(json, &object).ok()) {
    return absl::InternalError(
        absl::StrCat("a stored ", what, " is unreadable"));
  }
  for (const auto& [key, value] : object.fields()) {
    if (value.kind_case() == google::protobuf::Value::kStringValue) {
      (*out)[key] = value.string_value();
    } else {
      std::string text;
      (void)google::protobuf::util::MessageToJsonString(value, &text);
      (*out)[key] = text;
    }
  }
  return absl::OkStatus();
}

MapMatchParams MapMatch(const std::vector<MapTerm>& terms) {
  google::protobuf::Map<std::string, std::string> values;
  std::vector<std::string> keys;
  for (const MapTerm& term : terms) {
    if (term.value) {
      values[term.key] = *term.value;
    } else {
      keys.push_back(term.key);
    }
  }
  MapMatchParams params;
  if (!values.empty()) params.contains = StringMapJson(values);
  if (!keys.empty()) params.has_keys = TextArrayLiteral(keys);
  return params;
}

}  // namespace metad::store
