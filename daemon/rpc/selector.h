// Label and attribute selectors: "k=v,k2=v2,k3" (Kubernetes' equality
// form). Every term must match (AND): `key=value` needs the key to hold
// exactly value (an empty value matches ""), a bare `key` needs the key to
// be present. Terms are separated by ','; spaces around a term are ignored;
// '\' makes the next character literal (`a\,b=x\=y`), so any attribute can
// be named. Each key at most once. Refusals are INVALID_ARGUMENT naming the
// field, the term (by position and text) and the rule.
#ifndef METAD_DAEMON_RPC_SELECTOR_H_
#define METAD_DAEMON_RPC_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/string_map_json.h"

namespace metad::daemon {

enum class SelectorKind {
  // Run labels: keys as CheckLabelKey, values at most kMaxLabelValueBytes.
  kLabels,
  // File attributes: keys 1..kMaxAttributeKeyBytes, values at most
  // kMaxAttributeValueBytes, UTF-8 without NUL.
  kAttributes,
};

// The terms of `text` (empty: none). At most kMaxSelectorTerms terms and
// kMaxSelectorBytes bytes.
absl::StatusOr<std::vector<store::MapTerm>> ParseSelector(
    absl::string_view field, absl::string_view text, SelectorKind kind);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_SELECTOR_H_
