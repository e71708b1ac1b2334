// Opaque page tokens for keyset pagination. A token carries the last id of
// the page and a fingerprint of the request's filters, so it only works with
// the filters it was issued for, across restarts and replicas.
#ifndef METAD_DAEMON_RPC_PAGE_TOKEN_H_
#define METAD_DAEMON_RPC_PAGE_TOKEN_H_

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace metad::daemon {

// FNV-1a over the request's type name and the deterministic serialization
// of `request` with its page_token and page_size fields cleared (stable
// across processes; a token of one List RPC does not page another).
uint64_t FilterFingerprint(const google::protobuf::Message& request);

std::string EncodePageToken(int64_t last_id, uint64_t fingerprint);

// 0 for an empty token; the last id for a valid one; INVALID_ARGUMENT naming
// `field` for a malformed token or one issued for other filters.
absl::StatusOr<int64_t> DecodePageToken(const std::string& field,
                                        const std::string& token,
                                        uint64_t fingerprint);

// Tokens for a keyset of several numbers (GetLineage pages by (depth,
// kind, run_id, file_id), GetUpstream by (depth, task id)), bound to a
// fingerprint the same way.
std::string EncodeKeyPageToken(const std::vector<int64_t>& key,
                               uint64_t fingerprint);

// Empty for an empty token; the `size` numbers of a valid one (each >= 0);
// INVALID_ARGUMENT naming `field` for a malformed token or one issued for
// another request.
absl::StatusOr<std::vector<int64_t>> DecodeKeyPageToken(
    const std::string& field, const std::string& token, uint64_t fingerprint,
    size_t size);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_PAGE_TOKEN_H_
