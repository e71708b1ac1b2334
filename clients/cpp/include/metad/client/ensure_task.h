// EnsureTask: make a task exist with given settings without clobbering a
// concurrent change (UpdateTask with the etag it read, AIP-154).
#ifndef METAD_CLIENT_ENSURE_TASK_H_
#define METAD_CLIENT_ENSURE_TASK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "metad/client/metad_client.h"

namespace metad::client {

// The settings a caller wants. The description is always compared (empty
// means no description); a zero setting means "whatever is stored".
struct TaskSettings {
  std::string description;
  int32_t max_attempts = 0;
  int32_t default_lease_seconds = 0;
  // Task.concurrency_limit (0 removes it) and concurrency_key_label (""
  // makes the limit global); unset keeps what is stored. Set with
  // UpdateTask, also on a task EnsureTask registers.
  std::optional<int32_t> concurrency_limit;
  std::optional<std::string> concurrency_key_label;
  // Task.expected_duration; zero leaves the stored one as it is.
  absl::Duration expected_duration = absl::ZeroDuration();
};

// Registers `name` with `settings` if it is missing; otherwise reads it,
// and when a wanted setting differs, sends UpdateTask with only the
// differing fields in the mask and the etag it read. On ABORTED (the task
// changed in between: ETAG_MISMATCH, or a conflict the daemon gave up on)
// it reads, compares and updates again, `attempts` times in all. Returns the
// task as stored; the last ABORTED when every attempt lost a race; any
// other error as is (INVALID_ARGUMENT for bad settings, ...).
absl::StatusOr<v1::Task> EnsureTask(Client* client, const std::string& name,
                                    const TaskSettings& settings,
                                    int attempts = 5);

}  // namespace metad::client

#endif  // METAD_CLIENT_ENSURE_TASK_H_
