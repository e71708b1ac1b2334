// Whether a write can be made durable now (issue 14): the database may
// answer reads while every commit waits for a synchronous standby that is
// gone, or while it is a read-only standby (a demotion, a wrong URL).
#ifndef METAD_STORE_DURABILITY_PROBE_H_
#define METAD_STORE_DURABILITY_PROBE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/database.h"

namespace metad::store {

// Commits an empty write transaction (it takes a transaction id) bounded by
// `timeout`. OK: the commit was confirmed as every write's must be.
// Otherwise Transact's errors: UNAVAILABLE when no synchronous standby
// confirmed it in time, when the node is read-only (SQLSTATE 25006) or
// away; DEADLINE_EXCEEDED.
absl::Status ProbeDurableWrite(Database* db, absl::Duration timeout);

// A short label for a failed probe's status, for a metric: "ok",
// "sync_standby_unconfirmed", "read_only", "timeout" or
// "database_unavailable".
std::string DurabilityReason(const absl::Status& status);

}  // namespace metad::store

#endif  // METAD_STORE_DURABILITY_PROBE_H_
