// Aggregate views of the state for metrics: counts per status and the age
// of the oldest PROCESSING run.
#ifndef METAD_STORE_STATE_COUNT_STORE_H_
#define METAD_STORE_STATE_COUNT_STORE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "store/database.h"

namespace metad::store {

struct StateCounts {
  std::map<std::string, int64_t> files_by_status;  // NEW, PROCESSING, ...
  std::map<std::string, int64_t> runs_by_status;   // PROCESSING, SUCCESS, ...
  double oldest_processing_run_seconds = 0;        // 0 when none
};

class StateCountStore {
 public:
  explicit StateCountStore(Database* db) : db_(db) {}

  // Every status appears in the maps, with 0 when it has no rows.
  // UNAVAILABLE / DEADLINE_EXCEEDED as Database::Transact.
  absl::StatusOr<StateCounts> CountState(const TxOptions& options);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_STATE_COUNT_STORE_H_
