// Lease grace after an outage (issue 14). The reaper ticks a clock row in
// the database every round; when a tick is older than `stale_after`, no
// daemon reached the database for that gap (an outage, a failover: the
// promoted standby has the replicated tick, or every daemon down), so no
// worker could heartbeat, and the leases that lapsed in the gap are pushed
// back by its length before anything is expired. The rule itself is
// metad_lease_catch_up (migrations/functions/45_lease_clock.sql).
#ifndef METAD_STORE_LEASE_CLOCK_H_
#define METAD_STORE_LEASE_CLOCK_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/database.h"

namespace metad::store {

// What a catch-up did.
struct LeaseCatchUp {
  absl::Duration gap;    // the stale gap covered; zero when fresh
  int64_t extended = 0;  // runs whose lease was pushed back
  // The clock was stale and another daemon is catching up right now: the
  // reaper expires nothing this round (it could take leases the catch-up is
  // about to give back).
  bool busy = false;
};

// Inside the caller's transaction. Logs lease_clock_caught_up when the clock
// was stale. `stale_after` nullopt: the stored one;
// `tick`: record that the database was reached now (the reaper), else act
// only on a stale clock (a heartbeat that found its lease lapsed).
LeaseCatchUp CatchUpLeasesInTx(Tx& tx,
                               std::optional<absl::Duration> stale_after,
                               bool tick);

// The reaper's tick and catch-up in one transaction. Errors: the database's
// (UNAVAILABLE while it is away).
absl::StatusOr<LeaseCatchUp> TickLeaseClock(Database* db,
                                            const TxOptions& options,
                                            absl::Duration stale_after);

}  // namespace metad::store

#endif  // METAD_STORE_LEASE_CLOCK_H_
