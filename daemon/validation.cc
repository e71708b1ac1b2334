#include "daemon/validation.h"

#include "absl/strings/str_cat.h"
#include "store/error_details.h"

namespace metad::daemon {

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= n) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
        (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

absl::Status CheckText(absl::string_view field, absl::string_view value,
                       size_t min_bytes, size_t max_bytes) {
  if (value.size() < min_bytes || value.size() > max_bytes) {
    return store::InvalidFieldError(
        field, min_bytes == 0
                   ? absl::StrCat("must be at most ", max_bytes, " bytes (got ",
                                  value.size(), ")")
                   : absl::StrCat("must be ", min_bytes, "..", max_bytes,
                                  " bytes (got ", value.size(), ")"));
  }
  if (value.find('\0') != absl::string_view::npos) {
    return store::InvalidFieldError(field, "must not contain NUL bytes");
  }
  if (!IsValidUtf8(value)) {
    return store::InvalidFieldError(field, "must be valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status CheckLabel(absl::string_view field, absl::string_view value,
                        size_t min_bytes, size_t max_bytes) {
  absl::Status status = CheckText(field, value, min_bytes, max_bytes);
  if (!status.ok()) return status;
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) {
      return store::InvalidFieldError(field,
                                      "must not contain control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTaskName(absl::string_view field, absl::string_view value) {
  if (value.empty() || value.size() > 128) {
    return store::InvalidFieldError(
        field,
        absl::StrCat("must be 1..128 characters (got ", value.size(), ")"));
  }
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
              c == '-';
    if (!ok) {
      return store::InvalidFieldError(
          field, "may contain only letters, digits and _ . : -");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBatchId(absl::string_view field, absl::string_view value) {
  return CheckLabel(field, value, 1, 128);
}

absl::Status CheckId(absl::string_view field, int64_t id) {
  if (id <= 0) {
    return store::InvalidFieldError(
        field, absl::StrCat("must be a positive id (got ", id, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(absl::string_view field, absl::string_view value) {
  return CheckLabel(field, value, 0, kMaxRequestIdBytes);
}

absl::Status CheckPageSize(absl::string_view field, int32_t page_size,
                           int32_t* effective) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return store::InvalidFieldError(
        field, absl::StrCat("must be 0 (default ", kDefaultPageSize, ") to ",
                            kMaxPageSize, " (got ", page_size, ")"));
  }
  *effective = page_size == 0 ? kDefaultPageSize : page_size;
  return absl::OkStatus();
}

}  // namespace metad::daemon
