#include "daemon/rpc/validation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/error_details.h"
#include "common/proto_time.h"

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
    return metad::InvalidFieldError(
        field, min_bytes == 0
                   ? absl::StrCat("must be at most ", max_bytes, " bytes (got ",
                                  value.size(), ")")
                   : absl::StrCat("must be ", min_bytes, "..", max_bytes,
                                  " bytes (got ", value.size(), ")"));
  }
  if (value.find('\0') != absl::string_view::npos) {
    return metad::InvalidFieldError(field, "must not contain NUL bytes");
  }
  if (!IsValidUtf8(value)) {
    return metad::InvalidFieldError(field, "must be valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status CheckLabel(absl::string_view field, absl::string_view value,
                        size_t min_bytes, size_t max_bytes) {
  absl::Status status = CheckText(field, value, min_bytes, max_bytes);
  if (!status.ok()) return status;
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7F) {
      return metad::InvalidFieldError(field,
                                      "must not contain control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTaskName(absl::string_view field, absl::string_view value) {
  if (value.empty() || value.size() > kMaxTaskNameBytes) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must be 1..", kMaxTaskNameBytes,
                            " characters (got ", value.size(), ")"));
  }
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
              c == '-';
    if (!ok) {
      return metad::InvalidFieldError(
          field, "may contain only letters, digits and _ . : -");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBatchId(absl::string_view field, absl::string_view value) {
  return CheckLabel(field, value, 1, kMaxBatchIdBytes);
}

absl::Status CheckId(absl::string_view field, int64_t id) {
  if (id <= 0) {
    return metad::InvalidFieldError(
        field, absl::StrCat("must be a positive id (got ", id, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(absl::string_view field, absl::string_view value) {
  return CheckLabel(field, value, 0, kMaxRequestIdBytes);
}

absl::Status CheckPageSize(absl::string_view field, int32_t page_size,
                           int32_t* effective) {
  return CheckPageSize(field, page_size, kDefaultPageSize, kMaxPageSize,
                       effective);
}

absl::Status CheckPageSize(absl::string_view field, int32_t page_size,
                           int32_t default_size, int32_t max_size,
                           int32_t* effective) {
  if (page_size < 0) {
    return metad::InvalidFieldError(
        field,
        absl::StrCat("must be 0 (default ", default_size,
                     ") or positive; above ", max_size, " counts as ",
                     max_size, " (got ", page_size, ")"));
  }
  // AIP-158: a size above the maximum is coerced, not refused.
  *effective = page_size == 0 ? default_size : std::min(page_size, max_size);
  return absl::OkStatus();
}

absl::Status CheckTimestamp(absl::string_view field,
                            const google::protobuf::Timestamp& ts) {
  if (ts.seconds() < kMinTimestampSeconds ||
      ts.seconds() > kMaxTimestampSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    return metad::InvalidFieldError(
        field, "must be a valid timestamp between 0001-01-01 and 9999-12-31");
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalTimestamp(absl::string_view field, bool present,
                                    const google::protobuf::Timestamp& ts,
                                    std::optional<int64_t>* micros) {
  micros->reset();
  if (!present) return absl::OkStatus();
  if (absl::Status s = CheckTimestamp(field, ts); !s.ok()) return s;
  *micros = TimestampToMicros(ts);
  return absl::OkStatus();
}

}  // namespace metad::daemon
