// Deadlines, source freshness and alerts (migration 0012; the rules in
// migrations/functions/70_deadlines.sql). The checks are safe to run from
// every replica at once: an alert is inserted once (a unique index with
// ON CONFLICT DO NOTHING), and each call reports only what it inserted.
#ifndef METAD_STORE_DEADLINE_STORE_H_
#define METAD_STORE_DEADLINE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metad/v1/deadlines.pb.h"
#include "store/database.h"

namespace metad::store {

// Alerts one check recorded, by kind.
struct AlertCounts {
  int64_t deadline_missed = 0;
  int64_t stale = 0;
};

// Alerts recorded so far (the status page).
struct AlertTotals {
  int64_t deadline_missed = 0;
  int64_t stale = 0;
  int64_t last_day = 0;  // of both kinds
};

class DeadlineStore {
 public:
  explicit DeadlineStore(Database* db) : db_(db) {}

  // Sets (deadline_us) or clears (nullopt) the task's deadline in the batch
  // and returns the deadline now in force (nullopt: none). NOT_FOUND for
  // an unknown task.
  absl::StatusOr<std::optional<int64_t>> SetBatchDeadline(
      const TxOptions& options, const std::string& batch_id,
      const std::string& task, std::optional<int64_t> deadline_us);

  // Declares (max_age_us > 0) or removes (0) a source's freshness and
  // returns its state.
  absl::StatusOr<metad::v1::SourceFreshness> SetSourceFreshness(
      const TxOptions& options, const std::string& source, int64_t max_age_us);

  // One check: records the deadlines missed within the last
  // `lookback_seconds` and the stale sources; returns what this call
  // recorded (another replica's records are not counted here).
  absl::StatusOr<AlertCounts> RecordAlerts(const TxOptions& options,
                                           int64_t lookback_seconds);

  // Alerts with id > after_id (of `kind` unless empty), at most `limit`.
  absl::StatusOr<std::vector<metad::v1::Alert>> ListAlerts(
      const TxOptions& options, const std::string& kind, int64_t after_id,
      int32_t limit);

  absl::StatusOr<AlertTotals> Totals(const TxOptions& options);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_DEADLINE_STORE_H_
