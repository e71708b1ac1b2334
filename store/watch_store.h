// Reading the event tables (file_events, run_events) for watch streams: how
// far the trail is settled, and the events of one stream after its cursor.
//
// Settled ids. Event ids come from a sequence, so they are taken in one
// order and committed in another: while id 10's transaction is still open,
// id 11 may already be visible. A reader that moved its cursor past 11 would
// never see 10. So streams read only up to the *settled horizon*: an id H
// such that every event id <= H is either visible now or will never be
// (its transaction rolled back). Visible ids form a settled prefix as long as
// they are consecutive; past a hole, the horizon is found without timeouts:
//
//   - migrations/0003 makes an event id be taken only after the writing
//     transaction got its transaction id (xid);
//   - a reader that sees event ids up to L in its snapshot then takes an xid
//     F of its own (the *fence*). Whoever holds an id <= L took it before L
//     was committed, so before F existed, so its xid is older than F;
//   - in a later snapshot whose xmin is above F, every transaction older
//     than F has ended, so every id <= L is settled.
//
// AdvanceHorizon runs one step of this; the daemon's event listener calls it
// when woken (NOTIFY or poll) and keeps the result per table in memory. Any
// daemon may compute it: it depends only on the database, so cursors mean
// the same on every replica and after restarts.
#ifndef METAD_STORE_WATCH_STORE_H_
#define METAD_STORE_WATCH_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metad/v1/watch.pb.h"
#include "store/database.h"
#include "store/string_map_json.h"

namespace metad::store {

enum class EventTable { kFileEvents, kRunEvents };

// "file_events" / "run_events".
const char* EventTableName(EventTable table);
// The channel that wakes listeners after events were committed.
inline constexpr char kEventChannel[] = "metad_events";

// What a reader knows about one event table's settled prefix.
struct Horizon {
  // Every event id <= settled is settled (see above). Never decreases.
  int64_t settled = 0;
  // When `fence` is set: the largest id seen when the fence was taken; every
  // id <= candidate is settled once the fence is passed.
  int64_t candidate = 0;
  // The fence xid (xid8, decimal); empty when none is pending.
  std::string fence;
};

// Filters of a WatchFiles stream; empty / 0 do not filter.
struct FileEventFilter {
  std::string source;
  // files.status text of the event's to_status ("SUCCESS").
  std::string to_status;
  int64_t file_id = 0;
  std::vector<MapTerm> attributes;  // the attribute selector's terms (AND)
};

// Filters of a WatchRuns stream; empty / 0 do not filter.
struct RunEventFilter {
  std::string batch_id;
  std::string task_name;
  // task_log.status text of the event's to_status ("ERROR").
  std::string to_status;
  int64_t run_id = 0;
  std::vector<MapTerm> labels;  // the label selector's terms (AND)
};

class WatchStore {
 public:
  explicit WatchStore(Database* db);

  // One step: passes a pending fence if the snapshot allows, extends the
  // settled prefix over consecutive visible ids, and takes a new fence when
  // ids beyond it are visible. Updates *horizon only on success. Returns
  // true when another step right away may advance further (a full page of
  // ids was consumed). Only Database::Transact's own codes.
  absl::StatusOr<bool> AdvanceHorizon(EventTable table,
                                      const TxOptions& options,
                                      Horizon* horizon);

  // Sends the wake-up hint on kEventChannel (empty payload: "look at every
  // table") in a transaction of its own, after the events it announces have
  // committed. That transaction commits asynchronously: PostgreSQL holds a
  // database-wide lock from a notifying commit until its commit record is
  // flushed, and a lost hint only delays readers until their next look.
  // Only Database::Transact's own codes.
  absl::Status Notify(const TxOptions& options);

  // The largest event id visible now; 0 for an empty table. Only
  // Database::Transact's own codes.
  absl::StatusOr<int64_t> LastEventId(EventTable table,
                                      const TxOptions& options);

  // The largest event id retention has deleted from `table` (0: none; see
  // proto/metad/v1/admin.proto). Only Database::Transact's own codes.
  absl::StatusOr<int64_t> PrunedThrough(EventTable table,
                                        const TxOptions& options);

  // Matching file events with after_id < id <= upto_id, by id, at most
  // `limit`. Callers pass upto_id <= a settled horizon, so the answer never
  // changes later. Only Database::Transact's own codes.
  absl::StatusOr<std::vector<metad::v1::WatchedFileEvent>> ReadFileEvents(
      const TxOptions& options, const FileEventFilter& filter, int64_t after_id,
      int64_t upto_id, int limit);

  // The same for run events.
  absl::StatusOr<std::vector<metad::v1::WatchedRunEvent>> ReadRunEvents(
      const TxOptions& options, const RunEventFilter& filter, int64_t after_id,
      int64_t upto_id, int limit);

 private:
  Database* db_;
};

}  // namespace metad::store

#endif  // METAD_STORE_WATCH_STORE_H_
