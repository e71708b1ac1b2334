#include "daemon/rpc/labels.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/limits.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {
namespace {

bool IsKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '/' || c == '-';
}

}  // namespace

absl::Status CheckLabelKey(absl::string_view field, absl::string_view key) {
  if (key.empty() || key.size() > kMaxLabelKeyBytes) {
    return metad::InvalidFieldError(
        field, absl::StrCat("key must be 1..", kMaxLabelKeyBytes,
                            " bytes (got ", key.size(), ")"));
  }
  for (char c : key) {
    if (!IsKeyChar(c)) {
      // The key is echoed only when it is printable ASCII: it may be anything.
      bool printable = true;
      for (char k : key) printable = printable && k >= ' ' && k < 0x7f;
      return metad::InvalidFieldError(
          field,
          absl::StrCat("key ", printable ? absl::StrCat("\"", key, "\" ") : "",
                       "must be [A-Za-z0-9._/-] only"));
    }
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(key[0]))) {
    return metad::InvalidFieldError(
        field,
        absl::StrCat("key \"", key, "\" must start with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status CheckRunLabels(
    absl::string_view field,
    const google::protobuf::Map<std::string, std::string>& labels) {
  if (static_cast<int>(labels.size()) > kMaxRunLabels) {
    return metad::InvalidFieldError(
        field, absl::StrCat("at most ", kMaxRunLabels, " entries (got ",
                            labels.size(), ")"));
  }
  for (const auto& [key, value] : labels) {
    RETURN_IF_ERROR(CheckLabelKey(field, key));
    // The key is valid now, so it may name the entry.
    RETURN_IF_ERROR(CheckLabel(absl::StrCat(field, "[\"", key, "\"]"), value, 0,
                               kMaxLabelValueBytes));
  }
  return absl::OkStatus();
}

}  // namespace metad::daemon
