#include "store/string_map_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"

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

}  // namespace metad::store
