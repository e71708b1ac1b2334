#include "daemon/rpc/page_token.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error_details.h"

namespace metad::daemon {

uint64_t FilterFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const auto* descriptor = copy->GetDescriptor();
  const auto* reflection = copy->GetReflection();
  for (const char* name : {"page_token", "page_size"}) {
    if (const auto* field = descriptor->FindFieldByName(name)) {
      reflection->ClearField(copy.get(), field);
    }
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&out);
  }
  // The type first: a token of one List RPC must not page another.
  bytes.insert(0, descriptor->full_name() + ":");
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string EncodePageToken(int64_t last_id, uint64_t fingerprint) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1:", last_id, ":", absl::Hex(fingerprint)));
}

absl::StatusOr<int64_t> DecodePageToken(const std::string& field,
                                        const std::string& token,
                                        uint64_t fingerprint) {
  if (token.empty()) return 0;
  std::string raw;
  std::vector<std::string> parts;
  int64_t last_id = 0;
  uint64_t token_fingerprint = 0;
  if (token.size() > 200 || !absl::WebSafeBase64Unescape(token, &raw) ||
      (parts = absl::StrSplit(raw, ':')).size() != 3 || parts[0] != "v1" ||
      !absl::SimpleAtoi(parts[1], &last_id) || last_id <= 0 ||
      !absl::SimpleHexAtoi(parts[2], &token_fingerprint)) {
    return metad::InvalidFieldError(
        field,
        "is not a page token issued by metad; pass the "
        "next_page_token of the previous response unchanged");
  }
  if (token_fingerprint != fingerprint) {
    return metad::InvalidFieldError(
        field,
        "was issued for other filters; keep the filters of the "
        "first page, or start again without a token");
  }
  return last_id;
}

std::string EncodeKeyPageToken(const std::vector<int64_t>& key,
                               uint64_t fingerprint) {
  return absl::WebSafeBase64Escape(absl::StrCat("k1:", absl::StrJoin(key, ","),
                                                ":", absl::Hex(fingerprint)));
}

absl::StatusOr<std::vector<int64_t>> DecodeKeyPageToken(
    const std::string& field, const std::string& token, uint64_t fingerprint,
    size_t size) {
  std::vector<int64_t> key;
  if (token.empty()) return key;
  std::string raw;
  std::vector<std::string> parts;
  std::vector<std::string> numbers;
  uint64_t token_fingerprint = 0;
  bool valid =
      token.size() <= 300 && absl::WebSafeBase64Unescape(token, &raw) &&
      (parts = absl::StrSplit(raw, ':')).size() == 3 && parts[0] == "k1" &&
      absl::SimpleHexAtoi(parts[2], &token_fingerprint) &&
      (numbers = absl::StrSplit(parts[1], ',')).size() == size;
  for (size_t i = 0; valid && i < numbers.size(); ++i) {
    int64_t n = 0;
    valid = absl::SimpleAtoi(numbers[i], &n) && n >= 0;
    key.push_back(n);
  }
  if (!valid) {
    return metad::InvalidFieldError(
        field,
        "is not a page token issued by metad; pass the "
        "next_page_token of the previous response unchanged");
  }
  if (token_fingerprint != fingerprint) {
    return metad::InvalidFieldError(
        field,
        "was issued for another request; keep every field of the first "
        "page but page_size, or start again without a token");
  }
  return key;
}

}  // namespace metad::daemon
