#include "store/state_count_store.h"

namespace metad::store {
namespace {

constexpr Query kFilesByStatus{
    "stats.files_by_status",
    "SELECT status, count(*) FROM files GROUP BY status"};
constexpr Query kRunsByStatus{
    "stats.runs_by_status",
    "SELECT status, count(*) FROM task_log GROUP BY status"};
constexpr Query kOldestProcessing{
    "stats.oldest_processing",
    "SELECT coalesce(extract(epoch FROM now() - min(start_time)), 0)::float8 "
    "FROM task_log WHERE status = 'PROCESSING'"};

}  // namespace

absl::StatusOr<StateCounts> StateCountStore::CountState(const TxOptions& options) {
  StateCounts counts;
  absl::Status status =
      db_->Transact("stats.count_state", options, [&](Tx& tx) {
        counts = StateCounts();
        for (const char* s : {"NEW", "PROCESSING", "SUCCESS", "ERROR"}) {
          counts.files_by_status[s] = 0;
        }
        for (const char* s : {"PROCESSING", "SUCCESS", "ERROR"}) {
          counts.runs_by_status[s] = 0;
        }
        for (const auto& row : Exec(tx, kFilesByStatus)) {
          counts.files_by_status[row[0].as<std::string>()] =
              row[1].as<int64_t>();
        }
        for (const auto& row : Exec(tx, kRunsByStatus)) {
          counts.runs_by_status[row[0].as<std::string>()] =
              row[1].as<int64_t>();
        }
        counts.oldest_processing_run_seconds =
            Exec(tx, kOldestProcessing)[0][0].as<double>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace metad::store
