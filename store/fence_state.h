// The timeline fence's memory on disk (--fence_state_file): the system
// identifier and the highest timeline of it that the daemon has seen, so a
// restarted daemon still refuses an old primary that came back unfenced
// while the current primary is out of its reach (store/timeline_fence.h).
#ifndef METAD_STORE_FENCE_STATE_H_
#define METAD_STORE_FENCE_STATE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace metad::store {

struct FenceState {
  std::string system_id;  // empty: nothing seen yet
  int64_t timeline = 0;
};

// The state in `path`: empty when the file does not exist; INVALID_ARGUMENT
// when it cannot be read or parsed (the daemon should not guess).
absl::StatusOr<FenceState> LoadFenceState(const std::string& path);

// Replaces `path` atomically (a temporary file in the same directory,
// fsync, rename, fsync of the directory), so a crash leaves the old state or
// the new one.
absl::Status SaveFenceState(const std::string& path, const FenceState& state);

}  // namespace metad::store

#endif  // METAD_STORE_FENCE_STATE_H_
