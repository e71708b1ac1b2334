#include "daemon/services/file_spec_check.h"

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/status_macros.h"
#include "daemon/rpc/validation.h"

namespace metad::daemon {

absl::Status CheckFileSpec(const std::string& prefix,
                           const metad::v1::FileSpec& spec) {
  RETURN_IF_ERROR(CheckText(absl::StrCat(prefix, "source"), spec.source(), 1,
                            kMaxSourceBytes));
  RETURN_IF_ERROR(CheckText(absl::StrCat(prefix, "file_name"), spec.file_name(),
                            1, kMaxFileNameBytes));
  RETURN_IF_ERROR(CheckText(absl::StrCat(prefix, "checksum"), spec.checksum(),
                            0, kMaxChecksumBytes));
  if (spec.size_bytes() < 0) {
    return metad::InvalidFieldError(
        absl::StrCat(prefix, "size_bytes"),
        absl::StrCat("must not be negative (got ", spec.size_bytes(),
                     "); 0 means unknown"));
  }
  if (spec.row_count() < 0) {
    return metad::InvalidFieldError(
        absl::StrCat(prefix, "row_count"),
        absl::StrCat("must not be negative (got ", spec.row_count(),
                     "); 0 means unknown"));
  }
  if (spec.attributes_size() > kMaxAttributes) {
    return metad::InvalidFieldError(
        absl::StrCat(prefix, "attributes"),
        absl::StrCat("at most ", kMaxAttributes, " entries (got ",
                     spec.attributes_size(), ")"));
  }
  for (const auto& [key, value] : spec.attributes()) {
    RETURN_IF_ERROR(CheckText(absl::StrCat(prefix, "attributes key"), key, 1,
                              kMaxAttributeKeyBytes));
    // The key is valid text now, so it may name the entry.
    RETURN_IF_ERROR(CheckText(absl::StrCat(prefix, "attributes[\"", key, "\"]"),
                              value, 0, kMaxAttributeValueBytes));
  }
  return absl::OkStatus();
}

}  // namespace metad::daemon
