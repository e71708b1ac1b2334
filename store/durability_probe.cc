#include "store/durability_probe.h"

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "store/queries/durability.sql.h"
#include "store/sql.h"

namespace metad::store {

absl::Status ProbeDurableWrite(Database* db, absl::Duration timeout) {
  TxOptions options;
  options.deadline = absl::Now() + timeout;
  return db->Transact("durability.probe", options, [](Tx& tx) {
    Exec(tx, sql::kDurabilityProbe);
    return absl::OkStatus();
  });
}

std::string DurabilityReason(const absl::Status& status) {
  if (status.ok()) return "ok";
  // Matched on the messages Transact words (store/error_mapping.cc,
  // store/commit_guard.h), which name these causes.
  if (absl::StrContains(status.message(), "synchronous standby")) {
    return "sync_standby_unconfirmed";
  }
  if (absl::StrContains(status.message(), "read-only")) return "read_only";
  if (status.code() == absl::StatusCode::kDeadlineExceeded) return "timeout";
  return "database_unavailable";
}

}  // namespace metad::store
