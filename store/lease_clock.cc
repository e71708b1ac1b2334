#include "store/lease_clock.h"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"

#include "common/log.h"
#include "common/status_macros.h"
#include "store/queries/lease_clock.sql.h"
#include "store/sql.h"

namespace metad::store {
namespace {

// This process's row in metad_reaper_clock: host, pid and a random part, so
// a restarted daemon (same pid in a new container) gets a row of its own.
const std::string& ReplicaId() {
  static const std::string* id = [] {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    std::random_device random;
    return new std::string(absl::StrCat(host, ":", getpid(), ":",
                                        absl::Hex(random(), absl::kZeroPad8)));
  }();
  return *id;
}

}  // namespace

LeaseCatchUp CatchUpLeasesInTx(Tx& tx,
                               std::optional<absl::Duration> stale_after,
                               bool tick) {
  std::optional<int64_t> stale_us;
  if (stale_after.has_value()) {
    stale_us = absl::ToInt64Microseconds(*stale_after);
  }
  const pqxx::row row =
      Exec(tx, sql::kLeaseClockCatchUp, stale_us, tick, ReplicaId())[0];
  LeaseCatchUp out;
  const int64_t gap_us = row["gap_us"].as<int64_t>();
  out.busy = gap_us < 0;
  out.gap = absl::Microseconds(std::max<int64_t>(gap_us, 0));
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
