// Checks of run labels (StartRunRequest.labels); the limits are in
// limits.h. Each refusal is INVALID_ARGUMENT naming the label and the rule.
#ifndef METAD_DAEMON_RPC_LABELS_H_
#define METAD_DAEMON_RPC_LABELS_H_

#include <google/protobuf/map.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace metad::daemon {

// A label key: 1..kMaxLabelKeyBytes of [A-Za-z0-9._/-], starting with a
// letter or digit.
absl::Status CheckLabelKey(absl::string_view field, absl::string_view key);

// At most kMaxRunLabels entries; each key as CheckLabelKey, each value
// 0..kMaxLabelValueBytes of UTF-8 without control characters. `field` is
// the map's field name ("labels"); an entry is named labels["key"].
absl::Status CheckRunLabels(
    absl::string_view field,
    const google::protobuf::Map<std::string, std::string>& labels);

}  // namespace metad::daemon

#endif  // METAD_DAEMON_RPC_LABELS_H_
