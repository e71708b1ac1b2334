#include "store/lease_clock.h"

#include "common/log.h"
#include "common/status_macros.h"
#include "store/queries/lease_clock.sql.h"
#include "store/sql.h"

namespace metad::store {

LeaseCatchUp CatchUpLeasesInTx(Tx& tx,
                               std::optional<absl::Duration> stale_after,
                               bool tick) {
  std::optional<int64_t> stale_us;
  if (stale_after.has_value()) {
    stale_us = absl::ToInt64Microseconds(*stale_after);
  }
  const pqxx::row row = Exec(tx, sql::kLeaseClockCatchUp, stale_us, tick)[0];
  LeaseCatchUp out;
  out.gap = absl::Microseconds(row["gap_us"].as<int64_t>());
  out.extended = row["extended"].as<int64_t>();
  if (out.gap > absl::ZeroDuration()) {
    log::Warn("lease_clock_caught_up",
              {{"gap_ms", absl::ToInt64Milliseconds(out.gap)},
               {"runs_extended", out.extended},
               {"by", tick ? "reaper" : "heartbeat"}});
  }
  return out;
}

absl::StatusOr<LeaseCatchUp> TickLeaseClock(Database* db,
                                            const TxOptions& options,
                                            absl::Duration stale_after) {
  LeaseCatchUp out;
  RETURN_IF_ERROR(db->Transact(
      "lease_clock.catch_up", options, [&](Tx& tx) -> absl::Status {
        out = CatchUpLeasesInTx(tx, stale_after, /*tick=*/true);
        return absl::OkStatus();
      }));
  return out;
}

}  // namespace metad::store
