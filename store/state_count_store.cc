#include "store/state_count_store.h"

#include "store/queries/state_count.sql.h"

namespace metad::store {

absl::StatusOr<StateCounts> StateCountStore::CountState(
    const TxOptions& options) {
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
        for (const auto& row : Exec(tx, sql::kStatsFilesByStatus)) {
          counts.files_by_status[row["status"].as<std::string>()] =
              row["n"].as<int64_t>();
        }
        for (const auto& row : Exec(tx, sql::kStatsRunsByStatus)) {
          counts.runs_by_status[row["status"].as<std::string>()] =
              row["n"].as<int64_t>();
        }
        counts.oldest_processing_run_seconds =
            Exec(tx, sql::kStatsOldestProcessing)[0]["seconds"].as<double>();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return counts;
}

}  // namespace metad::store
